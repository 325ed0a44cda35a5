"""Outboxes behind one interface: SMTP (aiosmtplib) for real runs, .eml files for dry-runs."""

from __future__ import annotations

import asyncio
import re
import ssl
import time
from collections.abc import Awaitable, Callable
from email.message import Message
from pathlib import Path
from types import TracebackType
from typing import Protocol

import aiosmtplib

from digest.errors import DeliveryError
from digest.mail.compose import Outgoing, outgoing
from digest.mail.smtp_failures import (
    innermost,
    name_not_found,
    status_code,
    tls_failure,
    tls_mismatch,
)

# a run waits this long at most to learn whether its relay answers (digest.run.once), so a
# dead relay ends it in seconds, before its ranking is wasted
READY_SECONDS = 12.0


class Outbox(Protocol):
    """Where composed messages go. `send` returns where the message went, or raises
    DeliveryError; a return means the message was accepted."""

    dry_run: bool
    concurrency: int
    retried: int  # sends tried again after a temporary failure

    async def __aenter__(self) -> Outbox: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def send(self, message: Message | Outgoing) -> str: ...

    async def ready(self) -> None:
        """Return once messages can go out (a relay reached), or raise DeliveryError."""
        ...


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "digest"


class FileOutbox:
    """Writes each message as an .eml file (CRLF line ends) into a folder; used by --dry-run."""

    dry_run = True
    concurrency = 1
    retried = 0

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def __aenter__(self) -> FileOutbox:
        self.folder.mkdir(parents=True, exist_ok=True)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None

    async def ready(self) -> None:
        """A folder is always ready."""

    async def send(self, message: Message | Outgoing) -> str:
        """Write `message` to ``<folder>/<recipient>-<message id>.eml`` and return the path."""
        wire = message if isinstance(message, Outgoing) else outgoing(message)
        rcpt = wire.recipients[0] if wire.recipients else "unknown"
        mid = _slug(wire.message_id.strip("<>").split("@")[0])
        path = self.folder / f"{_slug(rcpt)}-{mid}.eml"
        try:
            path.write_bytes(wire.data)
        except OSError as exc:
            raise DeliveryError(f"cannot write {path}: {exc.strerror}", recipient=rcpt) from None
        return str(path)


class _Temporary(Exception):
    """A failure worth retrying (4xx, dropped connection, timeout); `bounce` is the status
    code when it was the recipient that was refused."""

    def __init__(self, message: str, bounce: str | None = None) -> None:
        super().__init__(message)
        self.bounce = bounce


class _Connection:
    """One SMTP session, opened on first use and reopened after a drop."""

    def __init__(self, outbox: SmtpOutbox) -> None:
        self.outbox = outbox
        self.smtp: aiosmtplib.SMTP | None = None

    async def open(self) -> aiosmtplib.SMTP:
        if self.smtp is not None and self.smtp.is_connected:
            return self.smtp
        o = self.outbox
        smtp = aiosmtplib.SMTP(
            hostname=o.host,
            port=o.port,
            use_tls=o.security == "tls",
            start_tls=o.security == "starttls",
            timeout=o.timeout,
            tls_context=o.tls_context,
        )
        try:
            await smtp.connect()
            if o.username:
                await smtp.login(o.username, o.password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            smtp.close()
            words = f"{exc.code} {exc.message}"
            raise DeliveryError(
                f"SMTP {o.host}:{o.port}: login as {o.username!r} refused: {words}",
                permanent=True,
            ) from None
        except (aiosmtplib.SMTPConnectError, aiosmtplib.SMTPTimeoutError, OSError) as exc:
            smtp.close()
            if tls_failure(exc):  # an untrusted certificate will not fix itself: no retries
                raise DeliveryError(
                    f"SMTP {o.host}:{o.port}: TLS certificate not trusted: {exc}; "
                    "check [smtp] host and ca_file",
                    permanent=True,
                ) from None
            if tls_mismatch(exc):  # nor will talking TLS to a plain-text port
                raise DeliveryError(
                    f"SMTP {o.host}:{o.port}: TLS handshake failed ({exc}); the server speaks "
                    'plain SMTP on this port: use security = "starttls" or "none"',
                    permanent=True,
                ) from None
            if name_not_found(exc):  # a name that does not exist will not appear in a retry
                raise DeliveryError(
                    f"SMTP {o.host}:{o.port}: no such host name ({innermost(exc)}); "
                    "check [smtp] host",
                    permanent=True,
                ) from None
            hint = ""
            if o.security != "tls" and isinstance(exc, aiosmtplib.SMTPTimeoutError):
                hint = '; if this port expects TLS from the first byte, use security = "tls"'
            raise _Temporary(f"cannot connect to {o.host}:{o.port}: {exc}{hint}") from None
        except aiosmtplib.SMTPException as exc:  # e.g. STARTTLS required but not offered
            smtp.close()
            raise DeliveryError(f"SMTP {o.host}:{o.port}: {exc}", permanent=True) from None
        self.smtp = smtp
        return smtp

    def drop(self) -> None:
        if self.smtp is not None:
            self.smtp.close()
        self.smtp = None

    async def close(self) -> None:
        smtp, self.smtp = self.smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except (aiosmtplib.SMTPException, OSError):
                smtp.close()

    async def send(self, sender: str, rcpts: list[str], data: bytes) -> str:
        """Send `data` once; DeliveryError for a permanent refusal, _Temporary for anything
        else."""
        smtp = await self.open()
        try:
            refused, reply = await smtp.sendmail(sender, rcpts, data)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            return self._refusal(first.recipient, first.code, first.message, at_rcpt=True)
        except aiosmtplib.SMTPResponseException as exc:
            if exc.code == -1 or not 400 <= exc.code < 600:
                self.drop()
                raise _Temporary(f"delivery interrupted: {exc.message}") from None
            return self._refusal(", ".join(rcpts), exc.code, exc.message, at_rcpt=False)
        except (aiosmtplib.SMTPException, OSError) as exc:
            self.drop()
            raise _Temporary(f"delivery interrupted: {exc or type(exc).__name__}") from None
        if refused:
            addr, resp = next(iter(refused.items()))
            return self._refusal(addr, resp.code, resp.message, at_rcpt=True)
        return reply

    @staticmethod
    def _refusal(rcpt: str, code: int, text: str, *, at_rcpt: bool) -> str:
        """Raise for a refusal: the address bounced when it was RCPT TO that was refused
        (a refused DATA says something about the message, not the address)."""
        words = f"{code} {text}".strip()
        bounce = status_code(code, text) if at_rcpt else None
        if 500 <= code < 600:
            raise DeliveryError(
                f"{rcpt}: refused by the server: {words}",
                recipient=rcpt,
                permanent=True,
                bounce=bounce,
            )
        raise _Temporary(f"{rcpt}: temporarily refused: {words}", bounce)


class SmtpOutbox:
    """Sends over a pool of reused aiosmtplib connections (at most `connections` at once),
    retrying temporary failures with backoff and pacing to `max_per_minute` when set."""

    dry_run = False

    def __init__(
        self,
        *,
        host: str,
        port: int,
        security: str,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 30.0,
        tls_context: ssl.SSLContext | None = None,
        connections: int = 4,
        retries: int = 3,
        backoff: float = 2.0,
        max_per_minute: float | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.tls_context = tls_context
        self.connections = max(1, connections)
        self.concurrency = self.connections
        self.sent = 0
        self.bytes_sent = 0
        self.retried = 0  # sends tried again after a temporary failure
        self.retries = retries
        self.backoff = backoff
        self.interval = 60.0 / max_per_minute if max_per_minute else 0.0
        self._sleep = sleep
        self._clock = clock
        self._idle: asyncio.Queue[_Connection] | None = None
        self._all: list[_Connection] = []
        self._pace = asyncio.Lock()
        self._next_slot = 0.0

    async def __aenter__(self) -> SmtpOutbox:
        self._idle = asyncio.Queue()
        self._all = [_Connection(self) for _ in range(self.connections)]
        for conn in self._all:
            self._idle.put_nowait(conn)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.gather(*(c.close() for c in self._all))

    async def check(self) -> str:
        """Open one session (TLS and login as configured) and say what the server answered."""
        conn = _Connection(self)
        try:
            smtp = await conn.open()
            ehlo = smtp.last_ehlo_response
            greeting = ehlo.message.splitlines()[0] if ehlo else "connected"
            return f"{self.host}:{self.port} {greeting}"
        except _Temporary as exc:
            raise DeliveryError(str(exc)) from None
        finally:
            await conn.close()

    async def _throttle(self) -> None:
        if not self.interval:
            return
        async with self._pace:
            now = self._clock()
            wait = self._next_slot - now
            if wait > 0:
                await self._sleep(wait)
            self._next_slot = max(now, self._next_slot) + self.interval

    async def ready(self, within: float = READY_SECONDS) -> None:
        """Open one pooled session (TLS and login as configured), retrying a temporary
        failure while `within` seconds last: a run learns of a dead relay before it ranks.
        DeliveryError when the relay cannot be reached or refuses the login."""
        if self._idle is None:
            raise RuntimeError("use SmtpOutbox as 'async with SmtpOutbox(...) as outbox'")
        conn = await self._idle.get()
        started = self._clock()
        attempt = 0
        try:
            while True:
                try:
                    async with asyncio.timeout(max(0.1, within - (self._clock() - started))):
                        await conn.open()
                    return
                except _Temporary as exc:
                    problem = str(exc)
                except TimeoutError:
                    problem = f"cannot connect to {self.host}:{self.port}: no answer"
                attempt += 1
                pause = self.backoff * 2 ** (attempt - 1)
                if attempt > self.retries or self._clock() - started + pause >= within:
                    raise DeliveryError(
                        f"SMTP relay unreachable after {attempt} attempts in "
                        f"{self._clock() - started:.0f} s: {problem}; check [smtp] host and port"
                    ) from None
                await self._sleep(pause)
        finally:
            self._idle.put_nowait(conn)

    async def send(self, message: Message | Outgoing) -> str:
        """Send `message` (flattened once); return the server's reply once it accepted it."""
        if self._idle is None:
            raise RuntimeError("use SmtpOutbox as 'async with SmtpOutbox(...) as outbox'")
        wire = message if isinstance(message, Outgoing) else outgoing(message)
        sender, rcpts = wire.sender, list(wire.recipients)
        attempt = 0
        while True:
            await self._throttle()
            conn = await self._idle.get()
            try:
                reply = await conn.send(sender, rcpts, wire.data)
                self.sent += 1
                self.bytes_sent += len(wire.data)
                return f"{self.host}:{self.port} {reply}"
            except _Temporary as exc:
                attempt += 1
                if attempt > self.retries:
                    raise DeliveryError(
                        f"{', '.join(rcpts)}: not delivered after {attempt} attempts: {exc}",
                        recipient=", ".join(rcpts),
                        bounce=exc.bounce,
                    ) from None
                self.retried += 1
            finally:
                self._idle.put_nowait(conn)
            await self._sleep(self.backoff * 2 ** (attempt - 1))
