"""ASGI middleware in front of the endpoint: at most `limit` requests served at once (the
rest get the busy page at once, with Retry-After), and one access log line per request that
names its route, never its token."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from digest.metrics import Metrics

log = logging.getLogger("digest.web.access")
ROUTES = ("/u/", "/d/")  # their last segment is a signed token: logged as "…"


def route(path: str) -> str:
    """The request path as logged: a token segment is replaced, an odd path shortened."""
    for prefix in ROUTES:
        at = path.find(prefix)
        if at >= 0:
            return path[: at + len(prefix)] + "…"
    return path[:80]


LABELS = ("/u/", "/d/", "/m/", "/l/", "/healthz", "/metrics", "/static/")


def route_label(path: str) -> str:
    """A metrics label for the request path: one of a few fixed routes, else "other"."""
    for label in LABELS:
        if label in path:
            return label.strip("/")
    return "other"


class Guard:
    """Counts requests being served (not open sockets: an idle or slow client holds a socket,
    not a slot) and refuses the one over `limit` with `busy()`."""

    def __init__(
        self,
        app: ASGIApp,
        busy: Callable[[], Response],
        *,
        limit: int,
        metrics: Metrics | None = None,
    ) -> None:
        self.app = app
        self.busy = busy
        self.limit = limit
        self.serving = 0
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status: list[int] = [0]

        async def sent(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            if self.serving >= self.limit:
                await self.busy()(scope, receive, sent)
                return
            self.serving += 1
            try:
                await self.app(scope, receive, sent)
            finally:
                self.serving -= 1
        finally:
            _access(scope, status[0], time.perf_counter() - started)
            if self.metrics is not None:
                self.metrics.request(route_label(str(scope.get("path", ""))), status[0])


def _access(scope: Scope, status: int, seconds: float) -> None:
    log.info(
        "%s %s %s %.0f ms",
        scope.get("method", "-"),
        route(str(scope.get("path", ""))),
        status or "-",
        seconds * 1000,
    )
