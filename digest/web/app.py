"""The subscriber endpoint as a Starlette app: one-click unsubscribe (RFC 8058) and its
confirmation page, resubscribe, a sent digest in the browser, and health. A GET never
changes anything; a bad token is a plain 404; every answer carries strict security
headers, and no page needs (or has) a script. Its paths work at the root and under the
path of `base_url` (a reverse proxy that strips that prefix, or one that does not)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.formparsers import MultiPartException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.types import Message

from digest.config.values import Config
from digest.errors import StoreError
from digest.mail.render import bundled_templates
from digest.metrics import Metrics
from digest.store import Store, store_exists
from digest.web.feedback import FeedbackPages
from digest.web.tokens import UNSUBSCRIBE, VIEW, verify

MAX_BODY = 4096  # a one-click POST is 26 bytes; nothing we accept is larger
BODY_SECONDS = 10  # for the whole body: a client that stalls mid-body gets a 408
RETRY_SECONDS = "30"  # Retry-After on a 503
log = logging.getLogger("digest.web")
PAGE_POLICY = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
# a digest as sent: its styles are inline (as in the inbox), its images remote; no script
DIGEST_POLICY = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; form-action 'none'; "
    "base-uri 'none'; frame-ancestors 'none'"
)
Clock = Callable[[], datetime]


def _secure(response: Response, policy: str = PAGE_POLICY) -> Response:
    headers = response.headers
    headers["Content-Security-Policy"] = policy
    headers["X-Content-Type-Options"] = "nosniff"
    headers["Referrer-Policy"] = "no-referrer"
    headers["X-Frame-Options"] = "DENY"
    headers["Cache-Control"] = "no-store"
    return response


class Pages:
    """The endpoint's handlers over one store (opened lazily, closed by `close`)."""

    def __init__(self, config: Config, *, clock: Clock | None = None) -> None:
        self.config = config
        self.secret = config.web_secret or b""
        self.clock = clock or (lambda: datetime.now(UTC))
        self.env = Environment(
            loader=FileSystemLoader(str(bundled_templates())),
            autoescape=select_autoescape(enabled_extensions=("html",), default=True),
        )
        self.prefix = urlsplit(config.settings.web.base_url).path if config.settings.web else ""
        self.env.globals["prefix"] = self.prefix
        self._store: Store | None = None
        self.metrics: Metrics | None = None
        # a store this process has seen is never created again: an opt-out written to a new,
        # empty file where the real one was deleted would be lost to the runs
        self._seen = store_exists(config.store_url)

    def store(self) -> Store:
        """The store, opened on first use (StoreError when it cannot be)."""
        if self._store is None:
            self._store = Store(
                self.config.store_url, timeouts=self.config.store_timeouts, create=not self._seen
            )
            self._seen = True
        return self._store

    def close(self) -> None:
        """Release the store's connections."""
        if self._store is not None:
            self._store.close()
            self._store = None

    def page(self, name: str, status: int = 200, **context: Any) -> Response:
        """A page from templates/web/, with the security headers."""
        html = self.env.get_template(f"web/{name}.html").render(**context)
        return _secure(HTMLResponse(html, status_code=status))

    def not_found(self) -> Response:
        """The same plain 404 for every bad, altered or expired link."""
        return self.page(
            "message",
            404,
            title="Link not found",
            message=(
                "This link is not valid or has expired. The newest digest you received has a "
                "working one."
            ),
        )

    async def _call(self, fn: Callable[..., Any], *args: Any, **kw: Any) -> Any:
        try:
            return await run_in_threadpool(fn, *args, **kw)
        except StoreError:
            held = self._store
            if held is not None and held.sqlite_path is not None:
                self.close()  # a file restored in its place is opened afresh next time
            raise

    def bad_request(self) -> Response:
        """The same 400 page for any POST that is not a one-click or the page's button."""
        return self.page(
            "message",
            400,
            title="Not understood",
            message="This request is not an unsubscribe or resubscribe; nothing was changed.",
        )

    async def unsubscribe_page(self, request: Request) -> Response:
        """GET /u/TOKEN: the address and one button; changes nothing (scanners fetch links)."""
        token = request.path_params["token"]
        email = verify(self.secret, UNSUBSCRIBE, token, now=self.clock())
        if email is None:
            return self.not_found()
        try:
            opted = await self._call(lambda: self.store().opted_out())
        except StoreError:
            return self.unavailable()
        since = opted.get(email.casefold())
        return self.page(
            "unsubscribe",
            title="Unsubscribed" if since else "Unsubscribe",
            email=email,
            opted_out=since is not None,
            since=since[:10] if since else None,
            action=f"{self.prefix}/u/{token}",
        )

    async def form(self, request: Request) -> dict[str, list[str]] | Response:
        """A POST's fields, read within BODY_SECONDS and MAX_BODY, or the answer to give."""
        try:
            async with asyncio.timeout(BODY_SECONDS):
                body = await _body(request)
        except TimeoutError:
            return self.page("message", 408, title="Too slow", message="Nothing was changed.")
        except ClientDisconnect:
            route = request.url.path.rsplit("/", 1)[0]
            log.info(
                "client went away mid-body: %s %s/…; nothing was changed", request.method, route
            )
            return Response(status_code=400)  # nobody is there to read it
        if body is None:
            return self.page("message", 413, title="Too large", message="Nothing was changed.")
        form = await _form(request, body)
        return self.bad_request() if form is None else form

    async def unsubscribe_post(self, request: Request) -> Response:
        """POST /u/TOKEN: `List-Unsubscribe=One-Click` (RFC 8058, or the page's button)
        unsubscribes at once; `action=resubscribe` undoes it."""
        token = request.path_params["token"]
        email = verify(self.secret, UNSUBSCRIBE, token, now=self.clock())
        if email is None:
            return self.not_found()
        form = await self.form(request)
        if isinstance(form, Response):
            return form
        try:
            if form.get("action") == ["resubscribe"]:
                await self._call(lambda: self.store().opt_in(email))
                opted_out = False
            elif form.get("List-Unsubscribe") == ["One-Click"] or form.get("action") == [
                "unsubscribe"
            ]:
                now = self.clock()
                await self._call(lambda: self.store().opt_out(email, now=now, via="link"))
                opted_out = True
            else:
                return self.bad_request()
        except StoreError:
            return self.unavailable()
        title = "Unsubscribed" if opted_out else "Subscribed again"
        action = f"{self.prefix}/u/{token}"
        return self.page("done", title=title, email=email, opted_out=opted_out, action=action)

    async def digest_page(self, request: Request) -> Response:
        """GET /d/TOKEN: the digest exactly as it was sent."""
        message_id = verify(self.secret, VIEW, request.path_params["token"], now=self.clock())
        if message_id is None:
            return self.not_found()
        try:
            html = await self._call(lambda: self.store().page(message_id))
        except StoreError:
            return self.unavailable()
        if html is None:
            return self.not_found()
        return _secure(HTMLResponse(html), DIGEST_POLICY)

    async def healthz(self, request: Request) -> Response:
        """GET /healthz: what `digest status --healthy` says, as JSON (503 when unhealthy)."""
        from digest.state import health

        def verdict_now() -> Any:
            # through the endpoint's own store once a run has created it: a probe every few
            # seconds then opens nothing, and before the first run it creates nothing
            there = self._seen or store_exists(self.config.store_url)
            held = self.store() if there else None
            return health(self.config, now=self.clock(), store=held)

        try:
            verdict = await self._call(verdict_now)
        except StoreError as exc:
            answer = JSONResponse({"ok": False, "why": str(exc)}, status_code=503)
            answer.headers["Retry-After"] = RETRY_SECONDS
            return _secure(answer)
        body = {"ok": verdict.ok, "why": verdict.why}
        return _secure(JSONResponse(body, status_code=200 if verdict.ok else 503))

    async def metrics_page(self, request: Request) -> Response:
        """GET /metrics: Prometheus text format; with [web] metrics_token_env, only for
        "Authorization: Bearer <token>" (401 otherwise)."""
        if self.metrics is None:
            return self.not_found()
        token = self.config.metrics_token
        if token is not None:
            given = request.headers.get("authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
                answer = JSONResponse({"ok": False, "why": "a bearer token is needed"}, 401)
                answer.headers["WWW-Authenticate"] = "Bearer"
                return _secure(answer)
        body = self.metrics.exposition()
        return _secure(Response(body, media_type="text/plain; version=0.0.4; charset=utf-8"))

    async def stylesheet(self, request: Request) -> Response:
        """The pages' one stylesheet."""
        css = (bundled_templates() / "web" / "web.css").read_text(encoding="utf-8")
        return _secure(Response(css, media_type="text/css"))

    def unavailable(self) -> Response:
        """The store cannot be reached: try again later, nothing was changed."""
        answer = self.page(
            "message",
            503,
            title="Try again later",
            message="The digest's database cannot be reached right now; nothing was changed.",
        )
        answer.headers["Retry-After"] = RETRY_SECONDS
        return answer

    def busy(self) -> Response:
        """Every request slot is taken (digest.web.guard): try again shortly."""
        answer = self.page(
            "message",
            503,
            title="Try again later",
            message="Too many requests right now; nothing was changed.",
        )
        answer.headers["Retry-After"] = RETRY_SECONDS
        return answer

    async def missing(self, request: Request, exc: Exception) -> Response:
        """Any other path or method."""
        return self.not_found()


async def _body(request: Request) -> bytes | None:
    """The request body, or None when it is larger than MAX_BODY (read no further)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY):
        return None
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY:
            return None
    return body


async def _form(request: Request, body: bytes) -> dict[str, list[str]] | None:
    """The POST's fields, from a urlencoded or a multipart/form-data body (RFC 8058 allows
    both), or None when it is neither or holds a file or too many fields."""
    kind = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if kind != "multipart/form-data":
        try:
            return parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
        except ValueError:
            return None

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    try:
        form = await Request(request.scope, replay).form(max_files=0, max_fields=8)
    except (HTTPException, MultiPartException):
        return None
    fields: dict[str, list[str]] = {}
    for key, value in form.multi_items():
        if not isinstance(value, str):
            return None
        fields.setdefault(key, []).append(value)
    return fields


def make_app(
    config: Config, *, clock: Clock | None = None, metrics: Metrics | None = None
) -> tuple[Starlette, Pages]:
    """The endpoint for `config` ([web] must be set), and its pages (close them after)."""
    pages = Pages(config, clock=clock)
    pages.metrics = metrics
    routes: list[BaseRoute] = [
        Route("/u/{token}", pages.unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", pages.unsubscribe_post, methods=["POST"]),
        Route("/d/{token}", pages.digest_page, methods=["GET"]),
        Route("/healthz", pages.healthz, methods=["GET"]),
        Route("/metrics", pages.metrics_page, methods=["GET"]),
        Route("/static/web.css", pages.stylesheet, methods=["GET"]),
    ]
    routes += FeedbackPages(pages).routes()
    if pages.prefix:  # a proxy that passes the path on as it is
        routes = [Mount(pages.prefix, routes=list(routes)), *routes]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        404: pages.missing,
        405: pages.missing,
    }
    return Starlette(routes=routes, exception_handlers=handlers), pages
