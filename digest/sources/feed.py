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
from digest.sources.text import author_name, collapse, html_to_text, split_creators, unescape
from digest.urls import web_url

_RDF_TITLE = re.compile(
    r"^(?P<title>.*?)\.?\s*\(arXiv:(?P<id>\S+?)\s*\[[^\]]*\]"
    r"(?:\s*(?P<updated>UPDATED)|\s*(?P<cross>CROSS LISTED))?\)\s*$",
    re.DOTALL,
)
_ARXIV_PREFIX = re.compile(
    r"^\s*arXiv:(?P<id>\S+)\s+Announce Type:\s*(?P<type>[\w-]+)\s*(?:Abstract:\s*)?(?P<rest>.*)$",
    re.DOTALL,
)


def _as_datetime(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)


# Parser complaints about a document that was whole: a misplaced XML declaration, junk after
# the root element. A truncated or broken document ("no element found", "unclosed token",
# "mismatched tag") adds nothing.
_RECOVERABLE = ("not at start of entity", "junk after document element")


def load(body: bytes, *, source: str, base: str = "") -> Any:
    """Run feedparser on `body` and reject what is not a whole feed; warnings that leave the
    document whole (charset overrides, whitespace before `<?xml`) keep its entries.
    Relative links resolve against xml:base, else `base` (the URL it was fetched from)."""
    headers = {"content-location": base} if web_url(base) else {}
    doc = feedparser.parse(body.lstrip(b" \t\r\n"), response_headers=headers)
    exc = doc.get("bozo_exception")
    recoverable = isinstance(exc, feedparser.ThingsNobodyCaresAboutButMe) or any(
        words in str(exc) for words in _RECOVERABLE
    )
    if doc.get("bozo") and not recoverable:
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


def entry_to_paper(entry: Any, *, source: str, base: str = "") -> Paper | None:
    """Turn one feedparser entry into a Paper, or None when it carries nothing usable.

    Its link is an absolute http(s) URL (relative ones resolved against `base`), else its
    guid when that is one, else none at all."""
    guid = collapse(entry.get("id")) or None
    raw_link = collapse(entry.get("link")) or None
    link = web_url(raw_link, base) or web_url(guid)
    title = _text(entry, "title")
    legacy = _RDF_TITLE.match(title)  # arXiv's RSS 1.0 listing: "Title. (arXiv:ID [cat])"
    if legacy:
        title = legacy.group("title")
    raw_summary = entry.get("summary", "") or ""
    m = _ARXIV_PREFIX.match(raw_summary)
    arxiv_flavour = bool(m) or "arxiv_announce_type" in entry or bool(legacy)
    announce = collapse(entry.get("arxiv_announce_type")) or (m.group("type") if m else None)
    if legacy:
        announce = "replace" if legacy.group("updated") else "new"
        announce = "cross" if legacy.group("cross") else announce
    if m:
        abstract = unescape(m.group("rest"))
    elif legacy:
        abstract = html_to_text(raw_summary)
    elif arxiv_flavour:
        abstract = unescape(raw_summary)
    else:
        content = entry.get("content") or []
        body = max([raw_summary, *(c.get("value", "") for c in content)], key=len)
        abstract = html_to_text(body)
    creator = entry.get("author", "") or ""
    if arxiv_flavour and creator:
        authors = tuple(author_name(n) for n in split_creators(html_to_text(creator)))
    else:
        names = (author_name(a.get("name")) for a in entry.get("authors", []) or [])
        authors = tuple(n for n in names if n)
    doi_raw = entry.get("arxiv_doi") or entry.get("prism_doi") or entry.get("dc_identifier")
    doi = normalise_doi(collapse(doi_raw)) if doi_raw else None
    if not (title or abstract or link):
        return None
    pid, version = canonical_id(
        candidates=(
            f"arXiv:{legacy.group('id')}" if legacy else None,  # carries the version
            guid,
            raw_link,
            f"arXiv:{m.group('id')}" if m else None,
        ),
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


def parse(body: bytes, *, source: str, base: str = "") -> Listing:
    """Parse an RSS/Atom document into a Listing; raise SourceError when it is not one.
    Relative links resolve against xml:base, the fetched URL `base`, else the channel link."""
    doc = load(body, source=source, base=base)
    feed = doc.feed
    base = base if web_url(base) else (web_url(collapse(feed.get("link"))) or "")
    papers = [p for p in (entry_to_paper(e, source=source, base=base) for e in doc.entries) if p]
    batch = _as_datetime(feed.get("published_parsed") or feed.get("updated_parsed")) or max(
        (p.published for p in papers if p.published), default=None
    )
    return Listing(papers=tuple(papers), title=collapse(feed.get("title", "")), batch=batch)


class FeedSource(SourceSettings):
    """Any RSS/Atom feed: an http(s) URL, a file:// URL or a local path."""

    type: Literal["feed"] = "feed"
    url: Text = Field(min_length=1)

    def parse(self, body: bytes, base: str = "") -> Listing:
        """Any RSS/Atom document."""
        return parse(body, source=self.name, base=base)
