"""Parse RSS/Atom documents (arXiv's flavour included) and JSON Feeds into Papers; no I/O."""

from __future__ import annotations

import calendar
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal
from xml.sax import SAXParseException

import feedparser
from pydantic import Field

from digest.config.fields import Text
from digest.errors import SourceError, SourceReportedError
from digest.ids import canonical_id, normalise_doi
from digest.models import Paper
from digest.sources import jsonfeed
from digest.sources.base import Listing, SourceSettings
from digest.sources.document import (
    Document,
    describe,
    feed_headers,
    read,
    repair,
    root_closed,
)
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

# RSS's <author>: "email (Name)". feedparser splits it itself but cuts top-level domains
# longer than four letters (ada@lab.science -> name "ce (Ada"), so the name is read here.
_RSS_AUTHOR = re.compile(r"^\s*[^\s@()<>]+@[^\s()<>]+\s*\((?P<name>[^()]+)\)\s*$")


def _as_datetime(parsed: Any) -> datetime | None:
    if not parsed:
        return None
    try:
        return datetime.fromtimestamp(calendar.timegm(parsed), tz=UTC)
    except (OverflowError, ValueError, OSError, TypeError):  # year 99999 and other inventions
        return None


def _str(holder: Any, *keys: str) -> str:
    """The first of `keys` holding a non-empty string, else ''. feedparser's lenient parser
    can leave a dict of attributes where an element's text was lost."""
    for key in keys:
        value = holder.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


def _dicts(holder: Any, key: str) -> list[Any]:
    """The dicts in the list under `key` (authors, tags, content), whatever else is there."""
    value = holder.get(key)
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


# Parser complaints about a document that was whole and that feedparser read without loss:
# a misplaced XML declaration, junk after the root element. They keep its entries silently.
_HARMLESS = ("not at start of entity", "junk after document element")


@dataclass(frozen=True)
class Loaded:
    """A feed as feedparser read it, the base its relative links resolve against ('' when
    there is no web one), and the XML error it recovered from (None when there was none)."""

    doc: Any
    base: str = ""
    recovered: str | None = None


def base_url(base: str, headers: Mapping[str, str]) -> str:
    """What relative links resolve against: the server's Content-Location (itself resolved
    against the URL fetched), else the URL fetched, else nothing. xml:base inside the
    document still wins where it is given (feedparser applies it, as RFC 3986 says)."""
    return web_url(headers.get("content-location"), base) or web_url(base) or ""


def load(
    body: bytes, *, source: str, base: str = "", headers: Mapping[str, str] | None = None
) -> Loaded:
    """Run feedparser on `body` (fetched from `base` with these response `headers`) and
    reject what is not a whole feed."""
    given = feed_headers(headers or {})
    document = read(body, given.get("content-type"))
    return _load(document, source=source, base=base_url(base, given), headers=given)


def _reread(document: Document, doc: Any, told: dict[str, str]) -> Any:
    """The document parsed again, strictly, with its bare '&' and HTML entities repaired,
    when that makes it well-formed: feedparser's lenient parser keeps the entries but turns
    "R&D" into "R&D;". Otherwise what the lenient parser made of it."""
    fixed = repair(document.text) if document.decoded_as else None
    if fixed is None:
        return doc
    try:
        again = feedparser.parse(fixed.encode("utf-8"), response_headers=told)
    except Exception:  # feedparser's strict parser has its own bugs; the lenient result stands
        return doc
    exc = again.get("bozo_exception")
    clean = not again.get("bozo") or isinstance(exc, feedparser.ThingsNobodyCaresAboutButMe)
    return again if clean and again.get("version") else doc


def _load(document: Document, *, source: str, base: str, headers: dict[str, str]) -> Loaded:
    told = {k: v for k, v in headers.items() if k != "content-location"}
    if base:
        told["content-location"] = base
    if document.decoded_as:  # we decoded it (declared or detected): it is UTF-8 now
        told["content-type"] = "application/xml; charset=utf-8"
    doc = feedparser.parse(document.body, response_headers=told)
    if not doc.get("version"):
        raise SourceError(
            f"source {source!r}: {describe(document.text)}, not a feed", source=source
        )
    exc = doc.get("bozo_exception")
    harmless = isinstance(exc, feedparser.ThingsNobodyCaresAboutButMe) or any(
        words in str(exc) for words in _HARMLESS
    )
    recovered = None
    if doc.get("bozo") and not harmless:
        # An XML error inside a document whose root element is closed (an undefined entity,
        # a bare '&') costs nothing that feedparser's lenient parser did not recover; a
        # document cut short ("no element found", "unclosed token") adds nothing.
        if not isinstance(exc, SAXParseException) or not root_closed(document.text):
            raise SourceError(
                f"source {source!r}: not a complete RSS/Atom document "
                f"({type(exc).__name__}: {exc})",
                source=source,
            )
        recovered = f"{exc.getMessage()}, line {document.line(exc.getLineNumber() or 1)}"
        doc = _reread(document, doc, told)
    title = collapse(_str(doc.feed, "title"))
    if title.lower().startswith("feed error"):
        detail = html_to_text(_str(doc.feed, "description", "subtitle"))
        raise SourceReportedError(
            f"source {source!r}: the server says {title!r}: {detail}", source=source
        )
    return Loaded(doc, base, recovered)


def _text(entry: Any, key: str) -> str:
    value = _str(entry, key)
    if _str(entry.get(f"{key}_detail") or {}, "type") in ("text/html", "application/xhtml+xml"):
        return html_to_text(value)
    # RSS titles are commonly entity-encoded HTML text ("Fish &amp;amp; Chips"): decode once
    return unescape(value)


def entry_to_paper(entry: Any, *, source: str, base: str = "") -> Paper | None:
    """Turn one feedparser entry into a Paper, or None when it carries nothing usable.

    Its link is an absolute http(s) URL (relative ones resolved against `base`), else its
    guid when that is one, else none at all."""
    guid = collapse(_str(entry, "id")) or None
    raw_link = collapse(_str(entry, "link")) or None
    link = web_url(raw_link, base) or web_url(guid)
    title = _text(entry, "title")
    legacy = _RDF_TITLE.match(title)  # arXiv's RSS 1.0 listing: "Title. (arXiv:ID [cat])"
    if legacy:
        title = legacy.group("title")
    raw_summary = _str(entry, "summary")
    m = _ARXIV_PREFIX.match(raw_summary)
    arxiv_flavour = bool(m) or "arxiv_announce_type" in entry or bool(legacy)
    announce = collapse(_str(entry, "arxiv_announce_type")) or (m.group("type") if m else None)
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
        content = (_str(c, "value") for c in _dicts(entry, "content"))
        body = max([raw_summary, *content], key=len)
        abstract = html_to_text(body)
    creator = _str(entry, "author")
    if arxiv_flavour and creator:
        authors = tuple(author_name(n) for n in split_creators(html_to_text(creator)))
    elif (rss := _RSS_AUTHOR.match(creator)) and len(_dicts(entry, "authors")) <= 1:
        authors = tuple(n for n in (author_name(rss.group("name")),) if n)
    else:
        names = (author_name(_str(a, "name")) for a in _dicts(entry, "authors"))
        authors = tuple(n for n in names if n)
    doi_raw = _str(entry, "arxiv_doi", "prism_doi", "dc_identifier")
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
        t for t in (collapse(_str(tag, "term")) for tag in _dicts(entry, "tags")) if t
    )
    journal = _str(entry, "arxiv_journal_reference", "arxiv_journal_ref")
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


def parse(
    body: bytes, *, source: str, base: str = "", headers: Mapping[str, str] | None = None
) -> Listing:
    """Parse an RSS/Atom document or a JSON Feed into a Listing; raise SourceError when it
    is neither. Relative links resolve against xml:base, Content-Location, the fetched URL
    `base`, else the channel link."""
    given = feed_headers(headers or {})
    document = read(body, given.get("content-type"))
    base = base_url(base, given)
    if jsonfeed.is_json(document.text):
        return jsonfeed.parse(document.text, source=source, base=base)
    loaded = _load(document, source=source, base=base, headers=given)
    doc = loaded.doc
    feed = doc.feed
    base = base or web_url(collapse(_str(feed, "link"))) or ""
    papers = [p for p in (entry_to_paper(e, source=source, base=base) for e in doc.entries) if p]
    batch = _as_datetime(feed.get("published_parsed") or feed.get("updated_parsed")) or max(
        (p.published for p in papers if p.published), default=None
    )
    return Listing(
        papers=tuple(papers),
        title=collapse(_str(feed, "title")),
        batch=batch,
        recovered=loaded.recovered,
    )


class FeedSource(SourceSettings):
    """Any RSS/Atom feed or JSON Feed: an http(s) URL, a file:// URL or a local path."""

    type: Literal["feed"] = "feed"
    url: Text = Field(min_length=1)

    def parse(
        self, body: bytes, base: str = "", headers: Mapping[str, str] | None = None
    ) -> Listing:
        """Any RSS/Atom document or JSON Feed."""
        return parse(body, source=self.name, base=base, headers=headers)
