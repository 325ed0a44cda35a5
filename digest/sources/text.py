"""Text clean-up shared by the parsers: HTML to text, whitespace, arXiv author strings."""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")


def collapse(text: object) -> str:
    """Collapse all runs of whitespace (hard line breaks included) to single spaces; what is
    not a string (a lenient parser's leftovers) is ''."""
    if not isinstance(text, str) or not text:
        return ""
    return " ".join(_CONTROL.sub(" ", text).split())


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("p", "br", "div", "li"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(markup: str | None) -> str:
    """Strip tags and decode entities once, dropping script and style content."""
    if not markup:
        return ""
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return collapse("".join(parser.parts))


def unescape(text: str | None) -> str:
    """Decode HTML entities once and collapse whitespace (for text that is not markup)."""
    return collapse(html.unescape(text or ""))


def author_name(raw: str | None) -> str:
    """One author name as a feed gave it: HTML stripped, TeX accents as letters."""
    return tex_accents(html_to_text(raw)) if raw else ""


def split_creators(creators: str) -> tuple[str, ...]:
    """Split arXiv's comma-joined dc:creator, ignoring commas inside parentheses, dropping
    the parenthesised affiliations."""
    names: list[str] = []
    depth = 0
    current: list[str] = []
    for ch in creators:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            names.append("".join(current))
            current = []
            continue
        if depth == 0 and ch != ")":
            current.append(ch)
    names.append("".join(current))
    cleaned = (collapse(re.sub(r"^and\s+", "", n.strip())) for n in names)
    return tuple(n for n in cleaned if n)


_ACCENTS = {
    "'": "\u0301", "`": "\u0300", "^": "\u0302", '"': "\u0308", "~": "\u0303",
    "=": "\u0304", ".": "\u0307", "u": "\u0306", "v": "\u030c", "H": "\u030b",
    "c": "\u0327", "k": "\u0328", "r": "\u030a",
}  # fmt: skip
_LETTERS = {
    "o": "ø", "O": "Ø", "ae": "æ", "AE": "Æ", "oe": "œ", "OE": "Œ", "aa": "å", "AA": "Å",
    "l": "ł", "L": "Ł", "ss": "ß", "i": "\u0131", "j": "\u0237",
}  # fmt: skip
# \'e  \'{e}  \' e  \c{c}  \c c  \'{\i}: symbol accents bind to the next letter, letter
# accents (\c, \v, ...) need braces or a space so that \copyright is left alone
_ACCENT = re.compile(
    r"""\\(?:(?P<sym>['`^"~=.])\s*|(?P<let>[uvHckr])(?:\s+|(?=\{)))"""
    r"(?:\{\s*(?P<braced>\\[ij]\b|[A-Za-z])\s*\}|(?P<base>\\[ij]\b|[A-Za-z]))"
)
_LETTER = re.compile(r"\\(ae|AE|oe|OE|aa|AA|ss|o|O|l|L|i|j)(?![A-Za-z])(?:\{\})?")
_BRACED = re.compile(r"\{([^{}\\$]{1,2})\}")


def tex_accents(text: str) -> str:
    """TeX accents and special letters as Unicode: Andr\\'e -> André, R\\'{e}nyi -> Rényi,
    {\\o}ksendal -> øksendal, Erd\\H{o}s -> Erdős; other text is left as it is."""
    if "\\" not in text:
        return text

    def accent(m: re.Match[str]) -> str:
        base = m.group("braced") or m.group("base")
        letter = base[1:] if base.startswith("\\") else base  # \\'{\\i} is an accented i
        return unicodedata.normalize("NFC", letter + _ACCENTS[m.group("sym") or m.group("let")])

    out = _ACCENT.sub(accent, text)
    out = _LETTER.sub(lambda m: _LETTERS[m.group(1)], out)
    return _BRACED.sub(r"\1", out) if out != text else out
