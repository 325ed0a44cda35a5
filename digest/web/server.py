"""Run the subscriber endpoint with uvicorn inside the caller's event loop (the same loop as
the scheduler under `digest serve`); it stops, letting requests in flight finish, when
`stop` is set. Signals stay with the caller."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator

import uvicorn

from digest.config.values import Config, split_listen
from digest.errors import ConfigError
from digest.web.app import Clock, make_app

log = logging.getLogger("digest.web")


class _Server(uvicorn.Server):
    """uvicorn's server without its own signal handling: the caller owns SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve_web(config: Config, stop: asyncio.Event, *, clock: Clock | None = None) -> None:
    """Answer subscriber links on [web] listen until `stop` is set."""
    web = config.settings.web
    if web is None:
        raise ConfigError(f"{config.path}: [web] is not set", path=str(config.path), key="web")
    app, pages = make_app(config, clock=clock)
    host, port = split_listen(web.listen)
    server = _Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            proxy_headers=False,  # links carry everything; no client address is trusted
            limit_concurrency=200,
            timeout_keep_alive=5,
            timeout_graceful_shutdown=30,
            h11_max_incomplete_event_size=16 * 1024,
        )
    )

    async def run() -> None:
        with contextlib.suppress(SystemExit):  # uvicorn exits when it cannot bind
            await server.serve()

    task = asyncio.create_task(run())
    log.info("subscriber links answered on http://%s (as %s)", web.listen, web.base_url)
    try:
        done, _ = await asyncio.wait(
            [task, asyncio.create_task(stop.wait())], return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:  # it could not start (port taken) or stopped by itself
            task.result()
            if not server.started:
                raise ConfigError(
                    f"{config.path}: web.listen: cannot listen on {web.listen}",
                    path=str(config.path),
                    key="web.listen",
                )
        server.should_exit = True  # requests in flight finish, then it returns
        await task
    finally:
        if not task.done():
            server.should_exit = True
            await task
        pages.close()
