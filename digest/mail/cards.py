"""Paper cards rendered and CSS-inlined once per run, assembled into each digest; pure.

A paper is in many digests of a run. Its card (templates/paper.html and paper.txt) comes in
two parts around the per-subscriber "Matched:" line, a head and a body, each depending on the
paper alone (and, in text, its number), so each is rendered once per environment, which is one
per run. In HTML a part is left in the digest as a placeholder comment; `Cards.finish` runs
the CSS inliner over the rest of the digest only and puts each part back in its CSS-inlined
form, inlined once with the same stylesheet. The first digests of a run are also inlined whole,
the old way, and compared: if the two ever differ (a user stylesheet that reaches across a
card's edge), the run keeps inlining whole documents.

The rest of the digest (its skeleton) differs between subscribers only in its words and
links, and their inlined styles depend only on the tags around them: the skeleton's text
runs, href values and card numbers are masked, the masked skeleton (its shape) is
inlined once per distinct shape, and each digest's own words go back in as the inliner
would have written them. Each new shape is checked against inlining the skeleton as it is;
a stylesheet with attribute selectors (which could see the masked values) is never masked.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from html import unescape
from typing import Any

import css_inline
from jinja2 import Environment
from markupsafe import Markup

from digest.models import Paper

INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
MAX_CARDS = 32768  # parts per run (a few per paper shown); beyond that the cache restarts
MAX_SHAPES = 1024  # inlined skeleton shapes per run; beyond that the cache restarts
CHECKS = 3  # digests per run rendered both ways and compared
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)
# a skeleton's per-digest parts: text between tags (not only blanks) and href values, found
# outside its stylesheets and scripts (each kept whole, up to its end tag)
_RAW = re.compile(
    r"(<(?:style|script)\b[^<]*(?:<(?!/(?:style|script)\s*>)[^<]*)*</(?:style|script)\s*>)"
)
_TEXT = re.compile(r">(\s*[^\s<][^<]*)")
_URL = re.compile(r'href="([^"]*)"')
_TEXT_MARK, _URL_MARK = "\ue000", "\ue001"  # private-use characters
# what the inliner's HTML parser turns a character reference into is only certain for
# complete references; anything else is left to the inliner itself
_LOOSE = re.compile(r"&(?![a-zA-Z][a-zA-Z0-9]*;|#[0-9]+;|#[xX][0-9a-fA-F]+;)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


@dataclass
class Cards:
    """One environment's rendered card parts: HTML (raw and CSS-inlined) and text."""

    env: Environment
    nonce: str = field(default_factory=lambda: secrets.token_hex(6))
    index: dict[tuple[str, Paper], int] = field(default_factory=dict)
    raw: list[str] = field(default_factory=list)
    inlined: list[str | None] = field(default_factory=list)
    text: dict[tuple[str, Paper, int], str] = field(default_factory=dict)
    css: str | None = None
    checks_left: int = CHECKS
    fast: bool = True
    shapes: dict[str, str] = field(default_factory=dict)
    masking: bool = True

    def __post_init__(self) -> None:
        self.token = re.compile(f"<!--pd:{self.nonce}:([0-9]+)-->")
        self.blank = f"<!--pd:{self.nonce}:-->"
        # adjacent cards: one placeholder in a shape (selectors never see comments)
        card = f"<!--pd:{self.nonce}:[0-9]+-->"
        self.run = re.compile(f"{card}(?:{card})*")  # a literal first: a fast scan

    def _html_part(self, part: str, paper: Paper) -> Markup:
        """The placeholder for `paper`'s `part` (a macro of paper.html), rendered once."""
        key = (part, paper)
        number = self.index.get(key)
        if number is None:
            macro = getattr(self.env.get_template("paper.html").module, part)
            number = self.index[key] = len(self.raw)
            self.raw.append(str(macro(paper)))
            self.inlined.append(None)
        return Markup(f"<!--pd:{self.nonce}:{number}-->")

    def paper_head(self, paper: Paper) -> Markup:
        """The card's part above "Matched:" (title, authors, badges)."""
        return self._html_part("head", paper)

    def paper_body(self, paper: Paper) -> Markup:
        """The card's part below "Matched:" (TL;DR, abstract)."""
        return self._html_part("body", paper)

    def paper_line(self, paper: Paper) -> Markup:
        """The paper's item in the "more matched" list."""
        return self._html_part("line", paper)

    def _text_part(self, part: str, paper: Paper, number: int, *args: Any) -> str:
        key = (part, paper, number)
        block = self.text.get(key)
        if block is None:
            macro = getattr(self.env.get_template("paper.txt").module, part)
            block = self.text[key] = str(macro(paper, *args))
        return block

    def text_head(self, paper: Paper, number: int) -> str:
        """The plain-text lines above "Matched:", numbered `number`."""
        return self._text_part("head", paper, number, number)

    def text_body(self, paper: Paper) -> str:
        """The plain-text lines below "Matched:" (links, TL;DR, abstract)."""
        return self._text_part("body", paper, 0)

    def text_line(self, paper: Paper) -> str:
        """The paper's lines in the plain-text "more matched" list."""
        return self._text_part("line", paper, 0)

    def restart_if_full(self) -> None:
        """Forget every card when the cache is full (between digests, never within one)."""
        if len(self.raw) > MAX_CARDS or len(self.text) > MAX_CARDS:
            self.index.clear()
            self.raw.clear()
            self.inlined.clear()
            self.text.clear()

    def _expand(self, html: str) -> str:
        return self.token.sub(lambda m: self.raw[int(m[1])], html)

    def _inlined(self, number: int) -> str:
        done = self.inlined[number]
        if done is None:
            done = self.inlined[number] = INLINER.inline_fragment(self.raw[number], self.css or "")
        return done

    def _assembled(self, html: str) -> str:
        if self.css is None:
            self.css = "\n".join(_STYLE.findall(html))
            self.masking = "[" not in self.css
        masked = self._mask(html) if self.masking else None
        if masked is None:
            return self._plain(html)
        shape, texts, urls, numbers = masked
        inlined = self.shapes.get(shape)
        if inlined is not None:
            filled = self._fill(inlined, texts, urls, numbers)
            if filled is not None:
                return filled
        if len(self.shapes) >= MAX_SHAPES:
            self.shapes.clear()
        inlined = self.shapes[shape] = INLINER.inline(shape)
        plain = self._plain(html)  # a new shape: checked against the skeleton as it is
        if self._fill(inlined, texts, urls, numbers) != plain:
            self.masking = False
        return plain

    def _plain(self, html: str) -> str:
        """The skeleton CSS-inlined as it is, its cards put back."""
        return self.token.sub(lambda m: self._inlined(int(m[1])), INLINER.inline(html))

    def _mask(self, html: str) -> tuple[str, list[str], list[str], list[list[int]]] | None:
        """(shape, texts, href values, card numbers of each run of adjacent cards) of a
        skeleton, or None when a text or value holds what cannot be put back exactly."""
        if _TEXT_MARK in html or _URL_MARK in html:
            return None
        numbers = [[int(n) for n in self.token.findall(r)] for r in self.run.findall(html)]
        pieces = _RAW.split(self.run.sub(self.blank, html))
        texts: list[str] = []
        urls: list[str] = []
        for i in range(0, len(pieces), 2):  # odd pieces: stylesheets and scripts, as they are
            texts += _TEXT.findall(pieces[i])
            piece = _TEXT.sub(">" + _TEXT_MARK, pieces[i])
            urls += _URL.findall(piece)
            pieces[i] = _URL.sub(f'href="{_URL_MARK}"', piece)
        values = "".join(texts) + "".join(urls)
        if _CONTROL.search(values) or ("&" in values and _LOOSE.search(values)):
            return None
        return "".join(pieces), texts, urls, numbers

    def _fill(
        self, inlined: str, texts: list[str], urls: list[str], numbers: list[list[int]]
    ) -> str | None:
        """An inlined shape with one digest's texts, url values and cards put back; None
        if the inliner did not keep every placeholder."""
        out = _interleave(inlined.split(_TEXT_MARK), [_as_text(t) for t in texts])
        if out is not None:
            out = _interleave(out.split(_URL_MARK), [_as_attribute(u) for u in urls])
        if out is not None:
            cards = ["".join([self._inlined(n) for n in run]) for run in numbers]
            out = _interleave(out.split(self.blank), cards)
        return out

    def finish(self, html: str) -> str:
        """The digest's HTML with CSS inlined and its cards in place."""
        if self.token.search(html) is None:  # a digest.html that does not use paper_head
            return str(INLINER.inline(html))
        if not self.fast:
            return str(INLINER.inline(self._expand(html)))
        if self.checks_left > 0:
            self.checks_left -= 1
            whole = str(INLINER.inline(self._expand(html)))
            self.fast = self._assembled(html) == whole
            return whole
        return self._assembled(html)


def _interleave(pieces: list[str], values: list[str]) -> str | None:
    """pieces[0] + values[0] + pieces[1] + ...: the values put back where they were split
    out; None when the counts do not fit."""
    if len(pieces) != len(values) + 1:
        return None
    out = [pieces[0]]
    for value, piece in zip(values, pieces[1:], strict=True):
        out.append(value)
        out.append(piece)
    return "".join(out)


def _as_text(raw: str) -> str:
    """Text as the inliner writes it back: character references read, then &, <, > and
    no-break spaces escaped (html5ever's serialiser). Texts with control characters (CR
    too, which parsing would turn into LF) are never masked (_CONTROL)."""
    text = unescape(raw) if "&" in raw else raw
    text = text.replace("&", "&amp;").replace("\xa0", "&nbsp;")
    return text.replace("<", "&lt;").replace(">", "&gt;")


def _as_attribute(raw: str) -> str:
    """An attribute value as the inliner writes it back: &, no-break spaces and " escaped."""
    value = unescape(raw) if "&" in raw else raw
    return value.replace("&", "&amp;").replace("\xa0", "&nbsp;").replace('"', "&quot;")


def install(env: Environment) -> Cards:
    """Give `env` its card cache and the paper_head / paper_body / paper_line / text_head /
    text_body / text_line filters (filters, not globals: Jinja calls a filter directly)."""
    cards = Cards(env)
    env.filters.update(
        paper_head=cards.paper_head,
        paper_body=cards.paper_body,
        paper_line=cards.paper_line,
        text_head=cards.text_head,
        text_body=cards.text_body,
        text_line=cards.text_line,
    )
    globals_: dict[str, Any] = env.globals
    globals_["_cards"] = cards
    return cards


def cards_of(env: Environment) -> Cards | None:
    """The card cache `install` gave `env`, if any."""
    found = env.globals.get("_cards")
    return found if isinstance(found, Cards) else None
