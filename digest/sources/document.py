"""What a fetched document is before a parser reads it: its encoding (declared, else
detected), whether its root element is closed, which format it looks like; pure."""

from __future__ import annotations

import codecs
import html.entities
import re
from collections.abc import Mapping
from dataclasses import dataclass

# The response headers a feed parser is given: the charset, the base for relative links
# and the default language. Nothing else of the response reaches a parser.
FEED_HEADERS = ("content-type", "content-location", "content-language")
MAX_HEADER = 2048

# Documents that say what they are in their first bytes (a BOM, or UTF-16/32 `<?` as in the
# XML spec's appendix F): feedparser reads those itself, so they go to it as they came.
_SELF_DESCRIBING = (
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_BE, "utf-16"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<\x00?", "utf-16-be"),
    (b"<\x00?\x00", "utf-16-le"),
)
# Labels as browsers read them (WHATWG Encoding): a page labelled latin-1 or Shift_JIS uses
# the Windows superset, so a curly quote or a NEC symbol in it is not an error there.
_AS_BROWSERS_READ = {
    "ascii": "cp1252",
    "iso8859-1": "cp1252",
    "iso8859-9": "cp1254",
    "tis-620": "cp874",
    "iso8859-11": "cp874",
    "shift_jis": "cp932",
    "euc_kr": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "big5": "big5hkscs",
}
_UNKNOWN_TO_PYTHON = {"x-sjis": "cp932", "windows-31j": "cp932", "x-gbk": "gb18030"}
_XML_ENCODING = re.compile(
    rb"""^<\?xml[^>]{0,200}?\sencoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']"""
)
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)


def feed_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers a parser is given, by lower-case name, each cut to a sane length."""
    wanted = {k.lower(): v for k, v in headers.items() if k.lower() in FEED_HEADERS}
    return {k: v.strip()[:MAX_HEADER] for k, v in wanted.items() if v.strip()}


def http_charset(content_type: str | None) -> str | None:
    """The charset parameter of a Content-Type header, if it has one."""
    m = _CHARSET.search(content_type or "")
    return m.group(1) if m else None


def _codec(label: str | None) -> str | None:
    """The Python codec to read a declared `label` with, as a browser would; None when the
    label names no encoding anyone knows."""
    if not label:
        return None
    label = _UNKNOWN_TO_PYTHON.get(label.lower(), label)
    try:
        name = codecs.lookup(label).name
    except LookupError:
        return None
    if name.startswith(("utf-16", "utf-32")):
        return "utf-8"  # an ASCII-compatible document (no BOM) that says UTF-16 is not one
    return _AS_BROWSERS_READ.get(name, name)


def detect(body: bytes) -> str | None:
    """The encoding charset-normalizer finds most likely, windows-1252 when that ties (the
    web's legacy default: short Western texts read the same in several code pages)."""
    import charset_normalizer  # only undeclared, non-UTF-8 documents need it

    matches = charset_normalizer.from_bytes(body)
    best = matches.best()
    if best is None:
        return None
    for m in matches:
        if m.encoding == "cp1252" and m.chaos <= best.chaos and m.coherence >= best.coherence:
            return "cp1252"
    return str(best.encoding)


@dataclass(frozen=True)
class Document:
    """A fetched document ready for a parser: its bytes, its text, how it was decoded."""

    body: bytes  # what feedparser reads: UTF-8 when `decoded_as` is set, else as it came
    text: str  # the document as text, to look at (its format, its root, its lines)
    decoded_as: str | None  # the codec we read it with (None: left to feedparser)
    detected: bool = False  # the codec was guessed: nothing declared one
    lines_before: int = 0  # blank lines dropped before its first markup

    def line(self, parsed: int) -> int:
        """The line in the document as served of line `parsed` in what feedparser read
        (feedparser adds a line of XML declaration when the document has none)."""
        return parsed + self.lines_before - (0 if self.text.startswith("<?xml") else 1)


def read(body: bytes, content_type: str | None = None) -> Document:
    """Decode `body` the way a browser would: a BOM, else the HTTP charset (it wins over the
    document's own declaration, RFC 7303), else the XML declaration, else UTF-8 when the bytes
    are UTF-8, else the encoding charset-normalizer detects. A document whose declared
    encoding does not fit its bytes is left to feedparser's own fallbacks."""
    stripped = body.lstrip(b" \t\r\n")
    gap = body[: len(body) - len(stripped)]
    lines_before = gap.count(b"\n") or gap.count(b"\r")
    for prefix, codec in _SELF_DESCRIBING:
        if stripped.startswith(prefix):
            text = stripped.decode(codec, errors="replace")
            return Document(stripped, text, None, lines_before=lines_before)
    declared = http_charset(content_type)
    if declared is None:
        m = _XML_ENCODING.match(stripped)
        declared = m.group(1).decode("ascii") if m else None
    codec = _codec(declared) or ""
    detected = False
    if not codec:
        codec = "utf-8"
        try:
            stripped.decode(codec)
        except UnicodeDecodeError:
            codec = detect(stripped) or ""
            detected = bool(codec)
    try:
        text = stripped.decode(codec)
    except (UnicodeDecodeError, LookupError):
        text = stripped.decode("utf-8", errors="replace")
        return Document(stripped, text, None, lines_before=lines_before)
    return Document(text.encode("utf-8"), text, codec, detected, lines_before)


# What may stand before the root element and after it: the XML declaration, processing
# instructions, comments, a doctype (with its internal subset).
_PROLOG = re.compile(
    r"\s*(?:<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(?:\[[^\]]*\])?\s*>)", re.DOTALL | re.IGNORECASE
)
_ROOT = re.compile(r"\s*<([A-Za-z_][\w.:-]{0,63})[\s/>]")


def root_name(text: str) -> str | None:
    """The name of the document's root element (after its prolog), or None."""
    pos = 0
    while (m := _PROLOG.match(text, pos)) is not None and m.end() > pos:
        pos = m.end()
    root = _ROOT.match(text, pos)
    return root.group(1) if root else None


def root_closed(text: str) -> bool:
    """Whether the document ends with its root element's end tag (then only whitespace,
    comments or processing instructions): it was not cut on its way here."""
    name = root_name(text)
    if name is None:
        return False
    tail = text[-4096:].rstrip()
    for _ in range(64):  # a few trailing comments (a cache's "generated in 0.2 s"), not a loop
        start = -1
        if tail.endswith("-->"):
            start = tail.rfind("<!--")
        elif tail.endswith("?>"):
            start = tail.rfind("<?")
        if start < 0:
            break
        tail = tail[:start].rstrip()
    return re.search(rf"</{re.escape(name)}\s*>\Z", tail) is not None


def describe(text: str) -> str:
    """What a document that is not a feed looks like, for an error message."""
    head = text.lstrip()[:1]
    if not head:
        return "an empty response"
    if head in "{[":
        return "a JSON document"
    name = root_name(text)
    if name is None:
        return "a text document" if head != "<" else "a document without a root element"
    if name.lower() in ("html", "head", "body") or re.match(r"\s*<!doctype\s+html", text, re.I):
        return "an HTML page"
    return f"an XML document whose root is <{name}>"


# Where '&' is literal text that must be left alone: CDATA sections and comments.
_SHIELDS = (("<![CDATA[", "]]>"), ("<!--", "-->"))
_REF = re.compile(r"&(#[0-9]{1,7};|#[xX][0-9A-Fa-f]{1,6};|[A-Za-z][A-Za-z0-9]{0,31};)?")
_XML_NAMED = ("amp;", "lt;", "gt;", "quot;", "apos;")


def _xml_char(code: int) -> bool:
    """Whether XML 1.0 allows the character `code` (its production Char)."""
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )


def _as_xml(m: re.Match[str]) -> str:
    ref = m.group(1)
    if ref is None:
        return "&amp;"  # a bare '&' ("R&D", "?a=1&b=2")
    if ref.startswith("#"):
        code = int(ref[2:-1], 16) if ref[1] in "xX" else int(ref[1:-1])
        return m.group(0) if _xml_char(code) else ""  # &#0; names no character XML has
    if ref in _XML_NAMED:
        return m.group(0)
    char = html.entities.html5.get(ref)  # HTML's names (&nbsp; &eacute;) are not XML's
    return "".join(f"&#{ord(c)};" for c in char) if char else "&amp;" + ref


def repair(text: str) -> str | None:
    """`text` with bare '&' escaped, HTML's named references made numeric and references to
    characters XML forbids dropped (outside CDATA sections and comments): the mistakes a
    template makes most. None when the document declares entities of its own (then a name
    may be one of them)."""
    if re.search(r"<!DOCTYPE[^>\[]*\[", text[:65536], re.IGNORECASE):
        return None
    parts: list[str] = []
    pos = 0
    # found by str.find, each opener's next place kept until passed: linear in the text,
    # however many unclosed openers a hostile document holds (a regex split is quadratic)
    starts = [text.find(opener) for opener, _ in _SHIELDS]
    while True:
        for i, (opener, _) in enumerate(_SHIELDS):
            if 0 <= starts[i] < pos:
                starts[i] = text.find(opener, pos)
        found = [(at, i) for i, at in enumerate(starts) if at >= 0]
        if not found:
            parts.append(_REF.sub(_as_xml, text[pos:]))
            return "".join(parts)
        at, i = min(found)
        closer = _SHIELDS[i][1]
        end = text.find(closer, at + len(_SHIELDS[i][0]))
        parts.append(_REF.sub(_as_xml, text[pos:at]))
        if end < 0:  # never closed: the rest is inside it
            parts.append(text[at:])
            return "".join(parts)
        pos = end + len(closer)
        parts.append(text[at:pos])
