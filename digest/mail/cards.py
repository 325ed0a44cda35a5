"""Paper cards rendered and CSS-inlined once per run, assembled into each digest; pure.

A paper is in many digests of a run. Its card (templates/paper.html and paper.txt) comes in
two parts around the per-subscriber "Matched:" line, a head and a body, each depending on the
paper alone (and, in text, its number), so each is rendered once per environment, which is one
per run. In HTML a part is left in the digest as a placeholder comment; `Cards.finish` runs
the CSS inliner over the rest of the digest only and puts each part back in its CSS-inlined
form, inlined once with the same stylesheet. The first digests of a run are also inlined whole,
the old way, and compared: if the two ever differ (a user stylesheet that reaches across a
card's edge), the run keeps inlining whole documents.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any

import css_inline
from jinja2 import Environment
from markupsafe import Markup

from digest.models import Paper

INLINER = css_inline.CSSInliner(keep_at_rules=True, load_remote_stylesheets=False)
MAX_CARDS = 32768  # parts per run (a few per paper shown); beyond that the cache restarts
CHECKS = 3  # digests per run rendered both ways and compared
_STYLE = re.compile(r"<style[^>]*>(.*?)</style>", re.DOTALL | re.IGNORECASE)


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

    def __post_init__(self) -> None:
        self.token = re.compile(f"<!--pd:{self.nonce}:([0-9]+)-->")

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
        skeleton = INLINER.inline(html)
        return self.token.sub(lambda m: self._inlined(int(m[1])), skeleton)

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
