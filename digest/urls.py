"""Links from untrusted input made safe to put in an email: only absolute http(s) URLs (and
mailto: where a caller allows it) survive; relative ones are resolved against a base; pure."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")
WEB = ("http", "https")
MAX_URL = 2048


def web_url(value: object, base: str = "", *, schemes: tuple[str, ...] = WEB) -> str | None:
    """`value` as an absolute URL with one of `schemes`, resolved against `base` when
    relative, or None (javascript:, data:, vbscript:, file:, garbage, whatever the case,
    entities or whitespace it hides behind)."""
    if not isinstance(value, str):
        return None
    text = html.unescape(html.unescape(value.strip()))  # &amp;#106; hides twice
    text = _CONTROL.sub("", text)
    if not text or len(text) > MAX_URL:
        return None
    scheme = urlsplit(text).scheme.lower()
    if not scheme and base:
        base_url = web_url(base, schemes=WEB)
        if base_url is None:
            return None
        text = urljoin(base_url, text)
        scheme = urlsplit(text).scheme.lower()
    if scheme not in schemes:
        return None
    parts = urlsplit(text)
    if scheme in WEB and not parts.netloc:
        return None
    return text
