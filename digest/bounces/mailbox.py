"""The IMAP mailbox bounces arrive in (stdlib imaplib, blocking: callers run it in a worker
thread): list the messages not yet processed, fetch each (at most MAX_BYTES of it), and flag,
move or delete it once its bounces are recorded."""

from __future__ import annotations

import imaplib
import ssl
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from digest.config.values import Config
from digest.errors import MailboxError

KEYWORD = "$DigestProcessed"
MAX_BYTES = 1024 * 1024  # a bounce carries headers, not the digest: enough to read any


def _quote(name: str) -> str:
    """A mailbox name as an IMAP quoted string."""
    return '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _said(exc: BaseException) -> str:
    """What an imaplib or socket error says, as text (imaplib carries the server's bytes)."""
    words = exc.args[0] if exc.args else ""
    if isinstance(words, bytes):
        return words.decode("utf-8", "replace")
    return str(exc) or type(exc).__name__


def _ok(answer: tuple[str, Sequence[Any]], what: str) -> Sequence[Any]:
    status, data = answer
    if status != "OK":
        said = b" ".join(d for d in data if isinstance(d, bytes)).decode("utf-8", "replace")
        raise MailboxError(f"{what}: the server said {status} {said}".strip())
    return data


class Mailbox:
    """One IMAP session on [bounces]'s folder: ``with Mailbox(config) as box: ...``."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.settings = config.settings.bounces
        self.imap: imaplib.IMAP4 | None = None
        self.where = f"bounces: IMAP {self.settings.host}:{self.settings.port}"
        self.expunge = False

    def _context(self) -> ssl.SSLContext:
        ca = self.settings.ca_file
        return ssl.create_default_context(cafile=str(self.config.resolve(ca)) if ca else None)

    def __enter__(self) -> Mailbox:
        s = self.settings
        password = self.config.bounce_password() or ""
        try:
            if s.security == "tls":
                imap: imaplib.IMAP4 = imaplib.IMAP4_SSL(
                    s.host or "", s.port, ssl_context=self._context(), timeout=s.timeout
                )
            else:
                imap = imaplib.IMAP4(s.host or "", s.port, timeout=s.timeout)
                if s.security == "starttls":
                    imap.starttls(self._context())
            self.imap = imap
            try:
                imap.login(s.username or "", password)
            except imaplib.IMAP4.error as exc:
                who = s.username
                raise MailboxError(
                    f"{self.where}: login as {who!r} refused: {_said(exc)}"
                ) from None
            _ok(imap.select(_quote(s.folder)), f"{self.where}: folder {s.folder!r}")
        except MailboxError:
            self.close()
            raise
        except (imaplib.IMAP4.error, OSError) as exc:
            self.close()
            hint = ""
            if isinstance(exc, ssl.SSLError) and "WRONG_VERSION_NUMBER" in str(exc):
                hint = (
                    '; the server speaks plain IMAP on this port: use security = "starttls" '
                    '(or "none" on loopback), or the TLS port (993)'
                )
            raise MailboxError(f"{self.where}: {_said(exc)}{hint}") from None
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Expunge what was deleted (delete and copy-then-delete moves), then log out."""
        imap, self.imap = self.imap, None
        if imap is None:
            return
        try:
            if self.expunge:
                imap.expunge()
            imap.logout()
        except (imaplib.IMAP4.error, OSError):
            pass

    def _session(self) -> imaplib.IMAP4:
        if self.imap is None:
            raise MailboxError(f"{self.where}: not connected")
        return self.imap

    def unprocessed(self) -> list[bytes]:
        """The UIDs of the messages not yet processed, oldest first, at most max_messages."""
        imap = self._session()
        try:
            data = _ok(imap.uid("SEARCH", "UNKEYWORD", KEYWORD), f"{self.where}: search")
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"{self.where}: search: {_said(exc)}") from None
        found = data[0] if data and isinstance(data[0], bytes) else b""
        return found.split()[: self.settings.max_messages]

    def fetch(self, uid: bytes) -> bytes:
        """The message (its first MAX_BYTES), without marking it seen."""
        imap = self._session()
        try:
            data = _ok(
                imap.uid("FETCH", uid.decode(), f"(BODY.PEEK[]<0.{MAX_BYTES}>)"),
                f"{self.where}: fetch",
            )
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"{self.where}: fetch: {_said(exc)}") from None
        for item in data:
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], bytes):
                return item[1]
        return b""

    def done(self, uid: bytes) -> None:
        """Mark the message processed as [bounces] processed says (flag, move or delete).
        A move that fails leaves it as it was (unflagged): the next reading tries again."""
        imap, s, key = self._session(), self.settings, uid.decode()
        try:
            if s.processed == "move":
                target = _quote(s.move_to)
                if b"MOVE" in _capabilities(imap):
                    _ok(imap.uid("MOVE", key, target), f"{self.where}: move to {s.move_to!r}")
                    return
                _ok(imap.uid("COPY", key, target), f"{self.where}: copy to {s.move_to!r}")
            flags = f"{KEYWORD} \\Seen" + ("" if s.processed == "flag" else " \\Deleted")
            _ok(imap.uid("STORE", key, "+FLAGS", f"({flags})"), f"{self.where}: flag")
            self.expunge = self.expunge or s.processed != "flag"
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(f"{self.where}: marking a message processed: {_said(exc)}") from None

    def prepare(self) -> None:
        """Create the folder processed messages move to, when they move (an existing one
        answers NO, which is fine: a real problem shows at the first move)."""
        if self.settings.processed != "move":
            return
        try:
            self._session().create(_quote(self.settings.move_to))
        except (imaplib.IMAP4.error, OSError) as exc:
            raise MailboxError(
                f"{self.where}: create {self.settings.move_to!r}: {_said(exc)}"
            ) from None


def _capabilities(imap: imaplib.IMAP4) -> set[bytes]:
    return {c.encode() if isinstance(c, str) else c for c in imap.capabilities}
