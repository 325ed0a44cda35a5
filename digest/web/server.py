"""Run the subscriber endpoint with Hypercorn inside the caller's event loop (the same loop as
the scheduler under `digest serve`); it stops, letting requests in flight finish, when
`stop` is set. Signals stay with the caller."""

from __future__ import annotations

import asyncio
import logging
import socket
from typing import cast

from hypercorn.asyncio import serve
from hypercorn.config import Config as ServerConfig
from hypercorn.typing import ASGIFramework

from digest.config.values import Config, split_listen
from digest.errors import ConfigError
from digest.metrics import Metrics
from digest.web.app import Clock, make_app
from digest.web.guard import Guard

log = logging.getLogger("digest.web")

# Hypercorn, not uvicorn: its keep-alive timer runs from the moment a connection opens until
# a request's headers are complete, so a client that sends nothing, or its headers a byte at
# a time, is closed after HEADER_SECONDS (uvicorn waits on such a socket forever, and counts
# it against its concurrency limit).
HEADER_SECONDS = 10
BODY_SECONDS = 10  # a one-click body is 26 bytes; a stalled one gets a 408 (digest.web.app)
GRACEFUL_SECONDS = 15  # requests in flight on a stop; longer than BODY_SECONDS
MAX_REQUESTS = 200  # served at once; idle or half-open sockets do not count
MAX_HEADERS = 16 * 1024


def _listen(config: Config, listen: str) -> socket.socket:
    """A listening socket on `listen`, or the one-line ConfigError naming web.listen."""
    host, port = split_listen(listen)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=1024)
    except OSError as exc:
        raise ConfigError(
            f"{config.path}: web.listen: cannot listen on {listen} ({exc.strerror or exc})",
            path=str(config.path),
            key="web.listen",
        ) from None


def server_config(fd: int) -> ServerConfig:
    """Hypercorn's settings for the endpoint, bound to the listening socket `fd`."""
    settings = ServerConfig()
    settings.bind = [f"fd://{fd}"]
    settings.keep_alive_timeout = HEADER_SECONDS
    settings.graceful_timeout = GRACEFUL_SECONDS
    settings.h11_max_incomplete_size = MAX_HEADERS
    settings.include_server_header = False
    settings.accesslog = None  # digest.web.guard logs each request, its token left out
    settings.errorlog = logging.getLogger("digest.web.server")
    return settings


async def serve_web(
    config: Config,
    stop: asyncio.Event,
    *,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
) -> None:
    """Answer subscriber links (and /metrics) on [web] listen until `stop` is set."""
    web = config.settings.web
    if web is None:
        raise ConfigError(f"{config.path}: [web] is not set", path=str(config.path), key="web")
    sock = _listen(config, web.listen)
    metrics = metrics or Metrics()
    app, pages = make_app(config, clock=clock, metrics=metrics)
    guarded = Guard(app, pages.busy, limit=MAX_REQUESTS, metrics=metrics)
    # the server owns the socket from here (fd://) and closes it when it stops
    settings = server_config(sock.detach())
    log.info("subscriber links answered on http://%s (as %s)", web.listen, web.base_url)
    try:
        await serve(cast(ASGIFramework, guarded), settings, shutdown_trigger=stop.wait, mode="asgi")
    finally:
        pages.close()
