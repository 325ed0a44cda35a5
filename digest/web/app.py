"""The subscriber endpoint as a Starlette app: one-click unsubscribe (RFC 8058) and its
confirmation page, resubscribe, a sent digest in the browser, and health. A GET never
changes anything; a bad token is a plain 404; every answer carries strict security
headers, and no page needs (or has) a script."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from digest.config.values import Config
from digest.errors import StoreError
from digest.mail.render import bundled_templates
from digest.store import Store, store_exists
from digest.web.tokens import UNSUBSCRIBE, VIEW, verify

MAX_BODY = 4096  # a one-click POST is 26 bytes; nothing we accept is larger
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
        self._store: Store | None = None

    def store(self) -> Store:
        """The store, opened on first use (StoreError when it cannot be)."""
        if self._store is None:
            self._store = Store(self.config.store_url, timeouts=self.config.store_timeouts)
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
        return await run_in_threadpool(fn, *args, **kw)

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
            action=f"/u/{token}",
        )

    async def unsubscribe_post(self, request: Request) -> Response:
        """POST /u/TOKEN: `List-Unsubscribe=One-Click` (RFC 8058, or the page's button)
        unsubscribes at once; `action=resubscribe` undoes it."""
        token = request.path_params["token"]
        email = verify(self.secret, UNSUBSCRIBE, token, now=self.clock())
        if email is None:
            return self.not_found()
        body = await _body(request)
        if body is None:
            return _secure(PlainTextResponse("request too large", status_code=413))
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=8)
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
                return _secure(PlainTextResponse("expected List-Unsubscribe=One-Click", 400))
        except StoreError:
            return self.unavailable()
        title = "Unsubscribed" if opted_out else "Subscribed again"
        return self.page(
            "done", title=title, email=email, opted_out=opted_out, action=f"/u/{token}"
        )

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
            held = self.store() if store_exists(self.config.store_url) else None
            return health(self.config, now=self.clock(), store=held)

        try:
            verdict = await self._call(verdict_now)
        except StoreError as exc:
            return _secure(JSONResponse({"ok": False, "why": str(exc)}, status_code=503))
        body = {"ok": verdict.ok, "why": verdict.why}
        return _secure(JSONResponse(body, status_code=200 if verdict.ok else 503))

    async def stylesheet(self, request: Request) -> Response:
        """The pages' one stylesheet."""
        css = (bundled_templates() / "web" / "web.css").read_text(encoding="utf-8")
        return _secure(Response(css, media_type="text/css"))

    def unavailable(self) -> Response:
        """The store cannot be reached: try again later, nothing was changed."""
        return self.page(
            "message",
            503,
            title="Try again later",
            message=("The digest's database cannot be reached right now; nothing was changed."),
        )

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


def make_app(config: Config, *, clock: Clock | None = None) -> tuple[Starlette, Pages]:
    """The endpoint for `config` ([web] must be set), and its pages (close them after)."""
    pages = Pages(config, clock=clock)
    routes = [
        Route("/u/{token}", pages.unsubscribe_page, methods=["GET"]),
        Route("/u/{token}", pages.unsubscribe_post, methods=["POST"]),
        Route("/d/{token}", pages.digest_page, methods=["GET"]),
        Route("/healthz", pages.healthz, methods=["GET"]),
        Route("/static/web.css", pages.stylesheet, methods=["GET"]),
    ]
    handlers: dict[Any, Callable[[Request, Exception], Awaitable[Response]]] = {
        404: pages.missing,
        405: pages.missing,
    }
    return Starlette(routes=routes, exception_handlers=handlers), pages
