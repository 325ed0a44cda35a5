"""Paper cards: each paper's parts of templates/paper.html and paper.txt rendered once per
Jinja2 environment (one per run) and placed by the digest templates as they are; pure.

A paper is in many digests of a run and its card depends on the paper alone (in text, also
on its number), so the digest templates call the paper_head / paper_body / paper_line and
text_head / text_body / text_line filters, which render the card's macro the first time and
return the same fragment (`Markup` in HTML) after that.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from digest.models import Paper

MAX_CARDS = 32768  # fragments kept per environment; beyond that the cache starts again


class Cards:
    """One environment's rendered card fragments: HTML and plain text."""

    def __init__(self, env: Environment) -> None:
        self.env = env
        self._html: dict[tuple[str, Paper], Markup] = {}
        self._text: dict[tuple[str, Paper, int], str] = {}

    def _html_part(self, part: str, paper: Paper) -> Markup:
        key = (part, paper)
        found = self._html.get(key)
        if found is None:
            if len(self._html) >= MAX_CARDS:
                self._html.clear()
            macro = getattr(self.env.get_template("paper.html").module, part)
            found = self._html[key] = Markup(macro(paper))
        return found

    def _text_part(self, part: str, paper: Paper, number: int, *args: Any) -> str:
        key = (part, paper, number)
        found = self._text.get(key)
        if found is None:
            if len(self._text) >= MAX_CARDS:
                self._text.clear()
            macro = getattr(self.env.get_template("paper.txt").module, part)
            found = self._text[key] = str(macro(paper, *args))
        return found

    def paper_head(self, paper: Paper) -> Markup:
        """The card's part above "Matched:" (title, authors, badges)."""
        return self._html_part("head", paper)

    def paper_body(self, paper: Paper) -> Markup:
        """The card's part below "Matched:" (TL;DR, abstract)."""
        return self._html_part("body", paper)

    def paper_line(self, paper: Paper) -> Markup:
        """The paper's item in the "more matched" list."""
        return self._html_part("line", paper)

    def text_head(self, paper: Paper, number: int) -> str:
        """The plain-text lines above "Matched:", numbered `number`."""
        return self._text_part("head", paper, number, number)

    def text_body(self, paper: Paper) -> str:
        """The plain-text lines below "Matched:" (links, TL;DR, abstract)."""
        return self._text_part("body", paper, 0)

    def text_line(self, paper: Paper) -> str:
        """The paper's lines in the plain-text "more matched" list."""
        return self._text_part("line", paper, 0)


def install(env: Environment) -> Cards:
    """Give `env` the card filters (filters, not globals: Jinja calls a filter directly)."""
    cards = Cards(env)
    env.filters.update(
        paper_head=cards.paper_head,
        paper_body=cards.paper_body,
        paper_line=cards.paper_line,
        text_head=cards.text_head,
        text_body=cards.text_body,
        text_line=cards.text_line,
    )
    return cards
