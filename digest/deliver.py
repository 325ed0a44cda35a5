"""Outboxes behind one interface: SMTP (aiosmtplib) for real runs, .eml files for dry-runs."""

from __future__ import annotations

import re
import ssl
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import TracebackType
from typing import Protocol

import aiosmtplib

from digest.errors import DeliveryError


class Outbox(Protocol):
    """Where composed messages go. `send` returns where the message went, or raises
    DeliveryError; a return means the message was accepted."""

    dry_run: bool

    async def __aenter__(self) -> Outbox: ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    async def send(self, message: EmailMessage) -> str: ...


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")[:60] or "digest"


class FileOutbox:
    """Writes each message as an .eml file (CRLF line ends) into a folder; used by --dry-run."""

    dry_run = True

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

    async def send(self, message: EmailMessage) -> str:
        """Write `message` to ``<folder>/<recipient>-<message id>.eml`` and return the path."""
        rcpt = str(message["To"].addresses[0].addr_spec) if message["To"] else "unknown"
        mid = _slug(str(message["Message-ID"]).strip("<>").split("@")[0])
        path = self.folder / f"{_slug(rcpt)}-{mid}.eml"
        try:
            path.write_bytes(message.as_bytes(policy=policy.SMTP))
        except OSError as exc:
            raise DeliveryError(f"cannot write {path}: {exc.strerror}", recipient=rcpt) from None
        return str(path)


class SmtpOutbox:
    """Sends over one reused aiosmtplib connection, reconnecting when it drops."""

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
    ) -> None:
        self.host = host
        self.port = port
        self.security = security
        self.username = username
        self.password = password
        self.timeout = timeout
        self.tls_context = tls_context
        self._smtp: aiosmtplib.SMTP | None = None

    async def __aenter__(self) -> SmtpOutbox:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Say QUIT if connected."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None and smtp.is_connected:
            try:
                await smtp.quit()
            except aiosmtplib.SMTPException:
                smtp.close()

    async def _connect(self) -> aiosmtplib.SMTP:
        if self._smtp is not None and self._smtp.is_connected:
            return self._smtp
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.security == "tls",
            start_tls=self.security == "starttls",
            timeout=self.timeout,
            tls_context=self.tls_context,
        )
        try:
            await smtp.connect()
            if self.username:
                await smtp.login(self.username, self.password or "")
        except aiosmtplib.SMTPAuthenticationError as exc:
            smtp.close()
            raise DeliveryError(
                f"SMTP {self.host}:{self.port}: login as {self.username!r} refused: "
                f"{exc.code} {exc.message}",
                permanent=True,
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            smtp.close()
            raise DeliveryError(f"SMTP {self.host}:{self.port}: cannot connect: {exc}") from None
        self._smtp = smtp
        return smtp

    async def send(self, message: EmailMessage) -> str:
        """Send `message`; return the server's reply once it accepted it for every recipient."""
        rcpt = ", ".join(a.addr_spec for a in message["To"].addresses)
        smtp = await self._connect()
        try:
            refused, reply = await smtp.send_message(message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            first = exc.recipients[0]
            raise DeliveryError(
                f"{rcpt}: refused by the server: {first.code} {first.message}",
                recipient=rcpt,
                permanent=500 <= first.code < 600,
            ) from None
        except aiosmtplib.SMTPResponseException as exc:
            raise DeliveryError(
                f"{rcpt}: not accepted: {exc.code} {exc.message}",
                recipient=rcpt,
                permanent=500 <= exc.code < 600,
            ) from None
        except (aiosmtplib.SMTPException, OSError) as exc:
            if self._smtp is not None:
                self._smtp.close()
            self._smtp = None
            raise DeliveryError(f"{rcpt}: delivery interrupted: {exc}", recipient=rcpt) from None
        if refused:
            addr, resp = next(iter(refused.items()))
            raise DeliveryError(
                f"{addr}: refused by the server: {resp.code} {resp.message}",
                recipient=addr,
                permanent=500 <= resp.code < 600,
            )
        return f"{self.host}:{self.port} {reply}"
