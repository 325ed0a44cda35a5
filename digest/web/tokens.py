"""Signed link tokens: HMAC-SHA256 over (purpose, subject, expiry day) with the [web] secret;
a token names its subject and expiry in the clear and cannot be altered, reused for another
purpose or made without the secret; pure."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime

UNSUBSCRIBE = "unsubscribe"
VIEW = "view"
MORE = "more"  # "more like this": subject is "address\npaper id"
LESS = "less"
BOUNCE = "bounce"  # VERP envelope senders: subject is the address
TAG_BYTES = 16  # 128-bit tag: guessing one is hopeless


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _day(now: datetime) -> int:
    return int(now.timestamp() // 86400)


def _tag(secret: bytes, purpose: str, subject: str, expires: int) -> bytes:
    message = f"{purpose}\n{subject}\n{expires}".encode()
    return hmac.new(secret, message, hashlib.sha256).digest()[:TAG_BYTES]


def sign(secret: bytes, purpose: str, subject: str, *, now: datetime, days: int) -> str:
    """A token for `subject` (an address, a Message-ID) and `purpose`, valid `days` days."""
    expires = _day(now) + days
    tag = _tag(secret, purpose, subject, expires)
    return f"{_b64(subject.encode('utf-8'))}.{expires:x}.{_b64(tag)}"


def verify(secret: bytes, purpose: str, token: str, *, now: datetime) -> str | None:
    """The subject of a valid token for `purpose`; None for anything else (altered, another
    purpose or secret, expired, malformed), without saying which."""
    parts = token.split(".")
    if len(parts) != 3 or len(token) > 1024:
        return None
    try:
        subject = _unb64(parts[0]).decode("utf-8")
        expires = int(parts[1], 16)
        tag = _unb64(parts[2])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    if not hmac.compare_digest(tag, _tag(secret, purpose, subject, expires)):
        return None
    return subject if expires >= _day(now) else None


def mark(secret: bytes, purpose: str, subject: str, *, chars: int = 20) -> str:
    """A short lowercase-hex tag of `subject` for `purpose` (80 bits by default), for places
    that carry no expiry and may fold case, such as an address's local part."""
    return hmac.new(secret, f"{purpose}\n{subject}".encode(), hashlib.sha256).hexdigest()[:chars]
