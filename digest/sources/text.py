"""Text clean-up shared by the parsers: HTML to text, whitespace, arXiv author strings."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028\u2029]")


def collapse(text: str | None) -> str:
    """Collapse all runs of whitespace (hard line breaks included) to single spaces."""
    if not text:
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
