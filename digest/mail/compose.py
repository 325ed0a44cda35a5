"""Compose messages with the email package: a digest's multipart/alternative with safe
headers, the operator's alerts, and each flattened once for the wire; pure."""

from __future__ import annotations

import base64
import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from email.charset import BASE64, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32
from email.utils import format_datetime, formataddr, getaddresses, parseaddr

from digest.mail.render import Rendered
from digest.sources.text import collapse

# RFC 2047 words for non-ASCII header values: base64, fixed here, so a value is not encoded
# both ways to pick the shorter one
UTF8_WORDS = Charset("utf-8")
UTF8_WORDS.header_encoding = BASE64
BOUNDARY = "=_pd_alternative"  # "=_" never occurs in base64 lines or the parts' headers
FOLDED_HEADERS = 4096


class WirePolicy(Compat32):
    """compat32 with CRLF line ends whose header folding is remembered: a run's digests
    share most header lines (From, Date, List-Id, the parts' Content-Type...), and
    compat32 folds every value through `Header.encode`, the costliest step of flattening.
    Non-ASCII values become utf-8 encoded words (formataddr has already encoded names)."""

    def fold_binary(self, name: str, value: str) -> bytes:
        """The header line(s) for `name: value` as bytes (see Policy.fold_binary)."""
        if isinstance(value, str):
            return _folded(self.linesep, self.max_line_length, name, value)
        return super().fold_binary(name, value)


@functools.lru_cache(maxsize=FOLDED_HEADERS)
def _folded(linesep: str, width: int | None, name: str, value: str) -> bytes:
    plain = Compat32(linesep=linesep, max_line_length=width)
    if value.isascii():
        return plain.fold_binary(name, value)
    return plain.fold_binary(name, Header(value, UTF8_WORDS, header_name=name))  # type: ignore[arg-type]


WIRE = WirePolicy(linesep="\r\n")


@functools.lru_cache(maxsize=64)
def parse_sender(sender: str) -> tuple[str, str]:
    """'Name <addr@host>' or 'addr@host' as (name, address), control characters removed."""
    name, addr = parseaddr(sender)
    return collapse(name), collapse(addr)


def message_id(*, subscriber: str, day: date, paper_ids: Iterable[str], domain: str) -> str:
    """A Message-ID that is the same whenever the same papers go to the same person that day."""
    key = "\n".join([subscriber.casefold(), day.isoformat(), *sorted(paper_ids)])
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<digest.{digest}@{domain or 'paper-digest.invalid'}>"


def _utf8_part(text: str, subtype: str) -> Message:
    """The headers and body of MIMEText(text, subtype, "utf-8"): base64 lines of 76
    characters, encoded by the C codec in one call."""
    part = Message(policy=WIRE)
    part["Content-Type"] = f'text/{subtype}; charset="utf-8"'
    part["MIME-Version"] = "1.0"
    part["Content-Transfer-Encoding"] = "base64"
    part.set_payload(base64.encodebytes(text.encode("utf-8")).decode("ascii"))
    return part


def _address(name: str, addr: str) -> str:
    return formataddr((collapse(name), addr), charset="utf-8")


@dataclass(frozen=True)
class Addressing:
    """Who a digest is from and to and what identifies it: everything its headers need.
    `unsubscribe` URLs (already personalised) become List-Unsubscribe, with
    List-Unsubscribe-Post for one-click when one of them is https (RFC 8058) or, with
    `one_click`, when the first is Paper Digest's own endpoint (which answers that POST).
    `message_id` is derived from the others unless given (see `message_id`)."""

    sender: str
    to_name: str
    to_email: str
    day: date
    paper_ids: Sequence[str]
    now: datetime
    unsubscribe: Sequence[str] = ()
    list_id: str | None = None
    one_click: bool = False
    message_id: str = ""

    def __post_init__(self) -> None:
        if not self.message_id:
            domain = parse_sender(self.sender)[1].rpartition("@")[2]
            mid = message_id(
                subscriber=self.to_email, day=self.day, paper_ids=self.paper_ids, domain=domain
            )
            object.__setattr__(self, "message_id", mid)


def digest_headers(subject: str, to: Addressing) -> list[tuple[str, str]]:
    """A digest's headers after Content-Type and MIME-Version, in order, as (name, value);
    values are stripped of control characters, names and addresses encoded by formataddr.
    A non-ASCII Subject becomes utf-8 encoded words when it is flattened (WirePolicy)."""
    from_name, from_addr = parse_sender(to.sender)
    domain = from_addr.rpartition("@")[2]
    headers = [
        ("From", _address(from_name, from_addr)),
        ("To", _address(to.to_name, collapse(to.to_email))),
        ("Subject", collapse(subject)),
        ("Date", format_datetime(to.now)),
        ("Message-ID", to.message_id),
        ("List-Id", f"Paper Digest <{collapse(to.list_id or 'paper-digest.' + domain)}>"),
    ]
    if to.unsubscribe:
        headers.append(("List-Unsubscribe", ", ".join(f"<{collapse(u)}>" for u in to.unsubscribe)))
        if to.one_click or any(u.lower().startswith("https://") for u in to.unsubscribe):
            headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    return headers


def compose(rendered: Rendered, to: Addressing) -> Message:
    """The message for one subscriber's digest; every header goes through the email package
    (formataddr and Header encode non-ASCII; values are stripped of control characters).

    Built as a MIMEMultipart with `WirePolicy` and base64 parts (every client decodes them;
    see `_utf8_part`). The boundary is fixed, not searched for in the body (see BOUNDARY).
    """
    msg = MIMEMultipart("alternative", boundary=BOUNDARY, policy=WIRE)
    for name, value in digest_headers(rendered.subject, to):
        msg[name] = value
    msg.attach(_utf8_part(rendered.text, "plain"))
    msg.attach(_utf8_part(rendered.html, "html"))
    return msg


@dataclass(frozen=True)
class Outgoing:
    """A message as it goes on the wire: envelope addresses, Message-ID and CRLF bytes."""

    sender: str
    recipients: tuple[str, ...]
    message_id: str
    data: bytes


def outgoing(message: Message) -> Outgoing:
    """`message` flattened once (CRLF line ends), with its envelope from From and To."""
    sender, rcpts = envelope(message)
    return Outgoing(sender, tuple(rcpts), str(message["Message-ID"]), to_bytes(message))


def to_bytes(message: Message) -> bytes:
    """The message as sent: CRLF line ends."""
    return message.as_bytes(policy=WIRE)


def envelope(message: Message) -> tuple[str, list[str]]:
    """(sender, recipients) addresses from the From and To headers."""
    sender = getaddresses([str(message["From"])])[0][1]
    rcpts = [addr for _, addr in getaddresses([str(message["To"])]) if addr]
    return sender, rcpts


def alert_message(
    *, sender: str, to: str, failing: Sequence[tuple[str, int, str]], now: datetime
) -> Message:
    """A short plain-text email to the operator about sources that keep failing."""
    from_name, from_addr = parse_sender(sender)
    lines = ["These sources failed in every recent run:", ""]
    for name, streak, error in failing:
        lines.append(f"- {name}: {streak} runs in a row; last error: {collapse(error)}")
    lines += ["", "Check the source URLs, or run: digest check --config <config> --connect"]
    msg = MIMEText("\n".join(lines) + "\n", "plain", "utf-8")
    msg["From"] = _address(from_name, from_addr)
    msg["To"] = _address("", collapse(to))
    names = ", ".join(n for n, _, _ in failing)
    msg["Subject"] = Header(collapse(f"Paper Digest: source failing ({names})"), "utf-8")  # type: ignore[assignment]
    msg["Date"] = format_datetime(now)
    key = "|".join([now.date().isoformat(), names])
    msg["Message-ID"] = (
        f"<alert.{hashlib.sha256(key.encode()).hexdigest()[:24]}@{from_addr.rpartition('@')[2]}>"
    )
    return msg
