"""What an SMTP failure means: an untrusted certificate, TLS spoken to a plain port, a host
name that does not exist (none of which a retry heals), and a reply's status code; pure."""

from __future__ import annotations

import socket
import ssl


def enhanced_status(text: str) -> str | None:
    """The enhanced status code `text` starts with ("5.1.1", RFC 3463), else None."""
    first = text.split(maxsplit=1)[0] if text.strip() else ""
    parts = first.split(".")
    if len(parts) == 3 and all(p.isdigit() and len(p) <= 3 for p in parts):
        return first if parts[0] in ("2", "4", "5") else None
    return None


def status_code(code: int, text: str) -> str:
    """The enhanced status code a reply starts with, else its reply code."""
    return enhanced_status(text) or str(code)


def tls_failure(exc: BaseException) -> bool:
    """True when `exc` (or what it wraps) is a certificate verification failure."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(
            seen
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def tls_mismatch(exc: BaseException) -> bool:
    """True when a TLS handshake met something that is not TLS (a plain-text server)."""
    seen: BaseException | None = exc
    while seen is not None:
        words = str(seen)
        if (
            isinstance(seen, ssl.SSLError)
            or "WRONG_VERSION_NUMBER" in words
            or ("record layer failure" in words)
        ):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def name_not_found(exc: BaseException) -> bool:
    """DNS said the name does not exist (not a temporary resolver failure)."""
    gone = {socket.EAI_NONAME, getattr(socket, "EAI_NODATA", socket.EAI_NONAME)}
    for cause in causes(exc):
        if isinstance(cause, socket.gaierror) and cause.errno in gone:
            return True
    # aiosmtplib reports a failed connect as text ("[Errno -2] Name or service not known")
    return any(f"[Errno {int(code)}]" in str(exc) for code in gone)


def innermost(exc: BaseException) -> str:
    return str(causes(exc)[-1]) or type(exc).__name__
