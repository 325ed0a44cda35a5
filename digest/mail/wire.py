"""A digest's message bytes built in one pass from pre-encoded parts; pure.

`compose` + `to_bytes` build a `Message` and flatten it with the email package's generator,
which re-folds every header and re-scans every body line, for every digest. Here each header
is folded by the same email package call the generator makes (``policy.fold_binary``), the
ones that repeat across a run are folded once, and the two bodies are base64-encoded by the
C codec with CRLF line ends: the bytes are those `to_bytes(compose(...))` gives, boundary
aside (random in both), which tests/test_wire.py pins. `wire_form` gives any bytes the form
DATA sends (what aiosmtplib would rewrite them to), so `mail.transact` can send them as they are.
"""

from __future__ import annotations

import binascii
import functools
import random
import re
import sys
from dataclasses import dataclass
from email.header import Header
from email.message import Message

import numpy as np

from digest.mail.compose import WIRE, Addressing, digest_headers, envelope, parse_sender, to_bytes
from digest.mail.render import Rendered
from digest.mail.subject import UTF8
from digest.sources.text import collapse

_WIDTH = len(repr(sys.maxsize - 1))  # the email generator's boundary: 15 '=', 19 digits, '=='
_PART = (
    'Content-Type: text/{}; charset="utf-8"\r\nMIME-Version: 1.0\r\n'
    "Content-Transfer-Encoding: base64\r\n\r\n"
)
_TEXT_HEAD = _PART.format("plain").encode("ascii")
_HTML_HEAD = _PART.format("html").encode("ascii")


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message as it goes on the wire: envelope addresses, Message-ID and CRLF bytes;
    `ready` when the bytes are known to be in DATA's wire form (`in_wire_form`)."""

    sender: str
    recipients: tuple[str, ...]
    message_id: str
    data: bytes
    ready: bool = False


def outgoing(message: Message) -> Outgoing:
    """A composed `Message` (alerts, tests) flattened once for the wire."""
    sender, rcpts = envelope(message)
    return Outgoing(sender, tuple(rcpts), str(message["Message-ID"]), to_bytes(message))


@functools.lru_cache(maxsize=256)
def _fold_same(name: str, value: str) -> bytes:
    """A header that repeats across a run's digests (From, Date, List-Id...), folded once."""
    return WIRE.fold_binary(name, value)


@functools.lru_cache(maxsize=4096)
def _fold_subject(subject: str) -> bytes:
    """The Subject as compose sets it (a utf-8 Header): its RFC 2047 encoding is the costliest
    header, and subscribers with the same keywords share it."""
    return WIRE.fold_binary("Subject", Header(subject, UTF8))  # type: ignore[arg-type]


_PRINTABLE = re.compile(r"[ -~]*")  # printable ASCII: nothing to encode or unfold
_LINE = WIRE.max_line_length or 78


def fold_one(name: str, value: str) -> bytes:
    """`WIRE.fold_binary(name, value)`; a printable ASCII value that fits on the header's
    line comes back as it is, so that case is written directly (tests/test_wire.py pins it)."""
    if len(name) + 2 + len(value) <= _LINE and _PRINTABLE.fullmatch(value):
        return f"{name}: {value}\r\n".encode("ascii")
    return WIRE.fold_binary(name, value)


def _fold(name: str, value: str) -> bytes:
    if name == "Subject":
        return _fold_subject(value)
    if name in ("To", "Message-ID", "List-Unsubscribe"):  # one subscriber's own
        return fold_one(name, value)
    return _fold_same(name, value)


def _body(text: str) -> bytes:
    """`base64.encodebytes` with CRLF line ends: one C call, then the 76-character lines,
    laid out as rows of one array with CR LF in their last two columns (a slice and a join
    per line took as long as the encoding)."""
    encoded = binascii.b2a_base64(text.encode("utf-8"), newline=False)
    full, rest = divmod(len(encoded), 76)
    lines = np.empty((full, 78), dtype=np.uint8)
    lines[:, :76] = np.frombuffer(encoded, dtype=np.uint8, count=full * 76).reshape(full, 76)
    lines[:, 76] = 13
    lines[:, 77] = 10
    out = lines.tobytes()
    return out + encoded[full * 76 :] + b"\r\n" if rest else out


def boundary() -> str:
    """A MIME boundary like the email generator's. It needs no check against the bodies:
    base64 lines never contain '-', so no body line can start with '--='."""
    return "=" * 15 + str(random.randrange(sys.maxsize)).zfill(_WIDTH) + "=="


def wire_digest(rendered: Rendered, to: Addressing) -> Outgoing:
    """The bytes `to_bytes(compose(rendered, to))` gives (see `compose`)."""
    headers = digest_headers(rendered.subject, to)
    mark = boundary()
    dash = b"--" + mark.encode("ascii")
    lines = [
        WIRE.fold_binary("Content-Type", f'multipart/alternative; boundary="{mark}"'),
        _fold_same("MIME-Version", "1.0"),
    ]
    lines.extend(_fold(name, value) for name, value in headers)
    head = b"".join(lines)
    data = b"".join(
        (
            head,
            b"\r\n",
            dash,
            b"\r\n",
            _TEXT_HEAD,
            _body(rendered.text),
            b"\r\n",
            dash,
            b"\r\n",
            _HTML_HEAD,
            _body(rendered.html),
            b"\r\n",
            dash,
            b"--\r\n",
        )
    )
    sender = parse_sender(to.sender)[1]
    # The rest is base64 lines and boundaries: no CR, LF or dot but the CRLFs put between
    # them, so the headers decide whether the whole message is in DATA's wire form.
    ready = in_wire_form(head)
    return Outgoing(sender, (collapse(to.to_email),), to.message_id, data, ready)


# DATA's wire form: what aiosmtplib's sendmail makes of any bytes before sending them
_LINE_ENDS = re.compile(rb"\r\n|\n|\r(?!\n)")
_LEADING_DOT = re.compile(rb"(?m)^\.")


def in_wire_form(data: bytes) -> bool:
    """True when `data` ends with CRLF, every CR and LF is part of a CRLF and no line starts
    with a dot: what DATA sends unchanged (four C scans of the bytes)."""
    crlf = data.count(b"\r\n")
    return (
        data.endswith(b"\r\n")
        and data.count(b"\n") == crlf
        and data.count(b"\r") == crlf
        and not data.startswith(b".")
        and b"\n." not in data
    )


def wire_form(data: bytes) -> tuple[bytes, int]:
    """`data` as DATA sends it (CRLF line ends, a final CRLF, leading dots doubled) and its
    SIZE (RFC 1870: the octets before dot-stuffing), as aiosmtplib computes both."""
    if in_wire_form(data):
        return data, len(data)
    data = _LINE_ENDS.sub(b"\r\n", data)
    if not data.endswith(b"\r\n"):
        data += b"\r\n"
    return _LEADING_DOT.sub(b"..", data), len(data)
