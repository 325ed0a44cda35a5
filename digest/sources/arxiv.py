"""arXiv's RSS/Atom listings (rss.arxiv.org): endpoint for categories, parsing via feed."""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote

from digest.sources import feed
from digest.sources.feed import Listing

BASE = "https://rss.arxiv.org/rss/"
CATEGORY = re.compile(r"^[a-z][a-z-]*(?:\.[A-Za-z]{2,})?$")


def endpoint(categories: Sequence[str]) -> str:
    """The rss.arxiv.org URL for one or more categories, joined with '+'."""
    return BASE + "+".join(quote(c, safe=".-") for c in categories)


def parse(body: bytes, *, source: str) -> Listing:
    """Parse an arXiv listing; a 'Feed error' document raises SourceReportedError."""
    return feed.parse(body, source=source)
