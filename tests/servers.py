"""Real loopback servers for tests: a threaded HTTP server with settable responses that
records requests, and an aiosmtpd SMTP server that can refuse chosen recipients."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Reply:
    """One canned HTTP response."""

    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Request:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    at: float


class _QuietServer(ThreadingHTTPServer):
    """Ignores clients that hang up early (timeout tests do that on purpose)."""

    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        import sys

        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class HttpServer:
    """Serves `routes[path]` (a Reply, or a list of Replies consumed in order, the last one
    repeating); answers 304 itself when If-None-Match matches the reply's ETag."""

    def __init__(self) -> None:
        self.routes: dict[str, Reply | list[Reply]] = {}
        self.requests: list[Request] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                server.requests.append(
                    Request(
                        self.path, {k.lower(): v for k, v in self.headers.items()}, time.monotonic()
                    )
                )
                reply = server._next(self.path)
                if reply.delay:
                    time.sleep(reply.delay)
                etag = reply.headers.get("ETag")
                if etag and self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(reply.status)
                for k, v in reply.headers.items():
                    self.send_header(k, v)
                if "Content-Length" not in reply.headers:
                    self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(reply.body)

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def _next(self, path: str) -> Reply:
        route = self.routes.get(path)
        if route is None:
            return Reply(b"not found", status=404)
        if isinstance(route, list):
            return route.pop(0) if len(route) > 1 else route[0]
        return route

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return f"http://127.0.0.1:{self.port}{path}"

    def hits(self, path: str) -> list[Request]:
        """Requests made for `path`."""
        return [r for r in self.requests if r.path == path]

    def start(self) -> HttpServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@dataclass
class Received:
    """One message the SMTP sink accepted."""

    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        msg = message_from_bytes(self.data, policy=policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class SmtpHandler:
    """aiosmtpd handler: records accepted messages; refuses or temp-fails chosen recipients."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.reject: dict[str, str] = {}
        self.tempfail: dict[str, int] = {}
        self.on_data: Callable[[Envelope], str | None] | None = None
        self.drop_data = 0  # close the connection instead of answering DATA, this many times
        self.data_delay = 0.0  # seconds to think before answering DATA (stall when large)
        self.active = 0
        self.max_active = 0
        self.data_calls = 0
        # Hold every DATA once this many messages were accepted, until `hold_after` is None
        # again: a test then knows a message is on the wire when it acts (kills a process,
        # starts a second run) instead of hoping it timed that right.
        self.hold_after: int | None = None
        self.held = 0  # DATA commands waiting behind the hold right now

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if address in self.reject:
            return self.reject[address]
        if self.tempfail.get(address, 0) > 0:
            self.tempfail[address] -= 1
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.data_calls += 1
        if self.drop_data > 0:
            self.drop_data -= 1
            assert server.transport is not None
            server.transport.close()
            return "421 4.3.0 closing"
        self.active += 1
        self.max_active = max(self.max_active, self.active)
        try:
            if self.data_delay:
                await asyncio.sleep(self.data_delay)
            while self.hold_after is not None and len(self.received) >= self.hold_after:
                self.held += 1
                try:
                    await asyncio.sleep(0.01)
                finally:
                    self.held -= 1
        finally:
            self.active -= 1
        if server.transport is None or server.transport.is_closing():
            return "421 4.3.0 client went away"  # never answered: the client saw no 250
        if self.on_data is not None:
            answer = self.on_data(envelope)
            if answer:
                return answer
        data = envelope.original_content or b""
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), data))
        return "250 2.0.0 queued"


class SmtpServer:
    """An aiosmtpd server on 127.0.0.1, port 0, in its own thread and event loop (so CLI
    subprocesses and in-process asyncio.run both can reach it)."""

    def __init__(self) -> None:
        self.handler = SmtpHandler()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    async def _serve(self) -> asyncio.base_events.Server:
        return await self.loop.create_server(
            lambda: SMTP(self.handler, hostname="sink.test", data_size_limit=None),
            "127.0.0.1",
            0,
        )

    def start(self) -> SmtpServer:
        self.thread.start()
        self.server = asyncio.run_coroutine_threadsafe(self._serve(), self.loop).result(10)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    def stop(self) -> None:
        async def close() -> None:
            assert self.server is not None
            self.server.close()

        asyncio.run_coroutine_threadsafe(close(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    @property
    def received(self) -> list[Received]:
        return self.handler.received


class LoopSmtp:
    """An aiosmtpd server started in the caller's event loop, counting connections."""

    def __init__(self) -> None:
        self.handler = SmtpHandler()
        self.connections = 0
        self.server: asyncio.base_events.Server | None = None
        self.port = 0

    def _session(self) -> SMTP:
        self.connections += 1
        return SMTP(self.handler, hostname="sink.test")

    async def start(self) -> LoopSmtp:
        loop = asyncio.get_running_loop()
        self.server = await loop.create_server(self._session, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()

    @property
    def received(self) -> list[Received]:
        return self.handler.received
