"""Parse any RSS/Atom document (arXiv's listing flavour included) into Papers; no I/O."""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime
from typing import Any, Literal

import feedparser
from pydantic import Field

from digest.config.fields import Text
from digest.errors import SourceError, SourceReportedError
from digest.ids import canonical_id, normalise_doi
from digest.models import Paper
from digest.sources.base import Listing, SourceSettings
from digest.sources.text import collapse, html_to_text, split_creators, unescape

_ARXIV_PREFIX = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?(?P<rest>.*)$",
    re.DOTALL,
)


def _as_datetime(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)


def load(body: bytes, *, source: str) -> Any:
    """Run feedparser on `body` and reject what is not a whole feed (soft charset issues pass)."""
    doc = feedparser.parse(body)
    exc = doc.get("bozo_exception")
    if doc.get("bozo") and not isinstance(exc, feedparser.ThingsNobodyCaresAboutButMe):
        raise SourceError(
            f"source {source!r}: not a complete RSS/Atom document ({type(exc).__name__}: {exc})",
            source=source,
        )
    if not doc.get("version"):
        raise SourceError(f"source {source!r}: the response is not an RSS/Atom feed", source=source)
    title = collapse(doc.feed.get("title", ""))
    if title.lower().startswith("feed error"):
        detail = html_to_text(doc.feed.get("description") or doc.feed.get("subtitle") or "")
        raise SourceReportedError(
            f"source {source!r}: the server says {title!r}: {detail}", source=source
        )
    return doc


def _text(entry: Any, key: str) -> str:
    detail = entry.get(f"{key}_detail") or {}
    value = entry.get(key, "") or ""
    if detail.get("type") in ("text/html", "application/xhtml+xml"):
        return html_to_text(value)
    # RSS titles are commonly entity-encoded HTML text ("Fish &amp;amp; Chips"): decode once
    return unescape(value)


def entry_to_paper(entry: Any, *, source: str) -> Paper | None:
    """Turn one feedparser entry into a Paper, or None when it carries nothing usable."""
    guid = collapse(entry.get("id")) or None
    link = collapse(entry.get("link")) or None
    title = _text(entry, "title")
    raw_summary = entry.get("summary", "") or ""
    m = _ARXIV_PREFIX.match(raw_summary)
    arxiv_flavour = bool(m) or "arxiv_announce_type" in entry
    announce = collapse(entry.get("arxiv_announce_type")) or (m.group("type") if m else None)
    if m:
        abstract = unescape(m.group("rest"))
    elif arxiv_flavour:
        abstract = unescape(raw_summary)
    else:
        content = entry.get("content") or []
        body = max([raw_summary, *(c.get("value", "") for c in content)], key=len)
        abstract = html_to_text(body)
    creator = entry.get("author", "") or ""
    if arxiv_flavour and creator:
        authors = split_creators(creator)
    else:
        authors = tuple(
            n for n in (collapse(a.get("name")) for a in entry.get("authors", []) or []) if n
        )
    doi_raw = entry.get("arxiv_doi") or entry.get("prism_doi") or entry.get("dc_identifier")
    doi = normalise_doi(collapse(doi_raw)) if doi_raw else None
    if not (title or abstract or link):
        return None
    pid, version = canonical_id(
        candidates=(guid, link, f"arXiv:{m.group('id')}" if m else None),
        doi=doi,
        guid=guid,
        link=link,
        title=title or abstract[:200],
    )
    categories = tuple(
        t for t in (collapse(tag.get("term")) for tag in entry.get("tags", []) or []) if t
    )
    journal = entry.get("arxiv_journal_reference") or entry.get("arxiv_journal_ref")
    if not link and pid.startswith("arxiv:"):
        link = f"https://arxiv.org/abs/{pid[len('arxiv:') :]}"
    return Paper(
        id=pid,
        version=version,
        title=title or "(untitled)",
        link=link or "",
        authors=authors,
        abstract=abstract,
        categories=categories,
        announce_type=announce.lower() if announce else None,
        doi=doi,
        journal_ref=collapse(journal) or None,
        published=_as_datetime(entry.get("published_parsed") or entry.get("updated_parsed")),
        source=source,
    )


def parse(body: bytes, *, source: str) -> Listing:
    """Parse an RSS/Atom document into a Listing; raise SourceError when it is not one."""
    doc = load(body, source=source)
    papers = [p for p in (entry_to_paper(e, source=source) for e in doc.entries) if p]
    feed = doc.feed
    batch = _as_datetime(feed.get("published_parsed") or feed.get("updated_parsed")) or max(
        (p.published for p in papers if p.published), default=None
    )
    return Listing(papers=tuple(papers), title=collapse(feed.get("title", "")), batch=batch)


class FeedSource(SourceSettings):
    """Any RSS/Atom feed: an http(s) URL, a file:// URL or a local path."""

    type: Literal["feed"] = "feed"
    url: Text = Field(min_length=1)

    def parse(self, body: bytes) -> Listing:
        """Any RSS/Atom document."""
        return parse(body, source=self.name)
