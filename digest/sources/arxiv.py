"""arXiv's RSS/Atom listings (rss.arxiv.org): endpoint for categories, parsing via feed."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Literal
from urllib.parse import quote

from pydantic import AfterValidator, Field, field_validator

from digest.config.fields import as_tuple, category
from digest.sources import feed
from digest.sources.base import Listing, SourceSettings

BASE = "https://rss.arxiv.org/rss/"


def endpoint(categories: Sequence[str]) -> str:
    """The rss.arxiv.org URL for one or more categories, joined with '+'."""
    return BASE + "+".join(quote(c, safe=".-") for c in categories)


def parse(
    body: bytes, *, source: str, base: str = "", headers: Mapping[str, str] | None = None
) -> Listing:
    """Parse an arXiv listing; a 'Feed error' document raises SourceReportedError."""
    return feed.parse(body, source=source, base=base, headers=headers)


class ArxivSource(SourceSettings):
    """arXiv's RSS listing for one or more categories."""

    type: Literal["arxiv"]
    categories: tuple[Annotated[str, AfterValidator(category)], ...] = Field(min_length=1)

    _categories = field_validator("categories", mode="before")(as_tuple)

    def endpoint(self, day: date) -> str:
        """The listing of the configured categories (the feed always shows the latest day)."""
        return endpoint(self.categories)

    def parse(
        self, body: bytes, base: str = "", headers: Mapping[str, str] | None = None
    ) -> Listing:
        """An arXiv RSS/Atom listing."""
        return parse(body, source=self.name, base=base, headers=headers)
