"""The arXiv API (export.arxiv.org/api/query): endpoint, current and legacy Atom layouts."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import date
from typing import Literal
from urllib.parse import urlencode

from pydantic import Field

from digest.config.fields import Text
from digest.errors import SourceReportedError
from digest.sources import feed
from digest.sources.base import Listing, SourceSettings
from digest.sources.text import collapse

BASE = "https://export.arxiv.org/api/query"


def endpoint(query: str, max_results: int) -> str:
    """The API URL for a search query, newest submissions first."""
    params = {
        "search_query": query,
        "sortBy": "submittedDate",
        "sortOrder": "descending",
        "max_results": str(max_results),
    }
    return f"{BASE}?{urlencode(params)}"


def parse(body: bytes, *, source: str, headers: Mapping[str, str] | None = None) -> Listing:
    """Parse an API response; its in-band error entry (title 'Error') raises
    SourceReportedError instead of becoming a paper."""
    loaded = feed.load(body, source=source, headers=headers)
    doc = loaded.doc
    for entry in doc.entries:
        ident = collapse(entry.get("id"))
        if "/api/errors" in ident or collapse(entry.get("title")) == "Error":
            detail = collapse(entry.get("summary")) or ident
            raise SourceReportedError(
                f"source {source!r}: the arXiv API reports an error: {detail}", source=source
            )
    papers = []
    for entry in doc.entries:
        paper = feed.entry_to_paper(entry, source=source)
        if paper is None:
            continue
        category = entry.get("arxiv_primary_category")
        primary = collapse(category.get("term")) if isinstance(category, dict) else ""
        if primary:
            rest = tuple(c for c in paper.categories if c != primary)
            paper = replace(paper, categories=(primary, *rest))
        if paper.arxiv_id:
            paper = replace(paper, link=f"https://arxiv.org/abs/{paper.arxiv_id}")
        papers.append(paper)
    title = collapse(doc.feed.get("title"))
    return Listing(papers=tuple(papers), title=title, batch=None, recovered=loaded.recovered)


class ArxivApiSource(SourceSettings):
    """An arXiv API search, newest submissions first."""

    type: Literal["arxiv-api"]
    query: Text = Field(min_length=1)
    max_results: int = Field(default=50, ge=1, le=2000)

    def endpoint(self, day: date) -> str:
        """The search URL."""
        return endpoint(self.query, self.max_results)

    def parse(
        self, body: bytes, base: str = "", headers: Mapping[str, str] | None = None
    ) -> Listing:
        """An API response (its in-band error entry raises SourceReportedError)."""
        return parse(body, source=self.name, headers=headers)
