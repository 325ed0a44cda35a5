"""Links from untrusted input made safe to put in an email: only absolute http(s) URLs (and
mailto: where a caller allows it) survive; relative ones are resolved against a base; pure."""

from __future__ import annotations

import html
import re
from urllib.parse import urljoin, urlsplit

_CONTROL = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")
# A character reference closed by ';' (&amp; &#38; &#x26;): what a link double-encoded by its
# feed still holds after the parser decoded it once. `&region=`, `&copy=`, `&not=` in a query
# have no ';' and are parameters, not references (as in an HTML attribute).
_REFERENCE = re.compile(r"&(?:#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
WEB = ("http", "https")
MAX_URL = 2048


def _decoded(text: str) -> str:
    """`text` with its ';'-closed character references decoded, once."""
    return _REFERENCE.sub(lambda m: html.unescape(m.group(0)), text)


def _scheme(text: str, base: str) -> tuple[str, str]:
    """(the URL `text` resolved against `base` when relative, its lower-case scheme)."""
    scheme = urlsplit(text).scheme.lower()
    if not scheme and base:
        text = urljoin(base, text)
        scheme = urlsplit(text).scheme.lower()
    return text, scheme


def web_url(value: object, base: str = "", *, schemes: tuple[str, ...] = WEB) -> str | None:
    """`value` as an absolute URL with one of `schemes`, resolved against `base` when
    relative, or None (javascript:, data:, vbscript:, file:, garbage, whatever the case,
    entities or whitespace it hides behind). Its query string comes back as it was given,
    but for references a double-encoding feed left in it (`&amp;` -> `&`)."""
    if not isinstance(value, str):
        return None
    text = _CONTROL.sub("", _decoded(value.strip()))
    if not text or len(text) > MAX_URL:
        return None
    base_url = web_url(base, schemes=WEB) if base else None
    # The scheme is judged on a copy decoded as far as any reader might decode it
    # (`&amp;#106;avascript:` hides twice), so no disguise gets past it.
    probe = _CONTROL.sub("", html.unescape(html.unescape(text)))
    try:
        if base and base_url is None and not urlsplit(text).scheme:
            return None
        text, scheme = _scheme(text, base_url or "")
        _, probe_scheme = _scheme(probe, base_url or "")
        if scheme not in schemes or probe_scheme != scheme:
            return None
        if scheme in WEB and not urlsplit(text).netloc:
            return None
    except ValueError:  # "http://[oops/": urllib's word for a URL that is no URL
        return None
    return text
