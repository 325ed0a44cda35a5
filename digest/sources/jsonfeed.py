"""Parse a JSON Feed (jsonfeed.org, versions 1.0 and 1.1) into Papers; no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from digest.errors import SourceError
from digest.ids import canonical_id
from digest.models import Paper
from digest.sources.base import Listing
from digest.sources.text import author_name, collapse, html_to_text
from digest.urls import web_url

VERSION = "https://jsonfeed.org/version/"


def is_json(text: str) -> bool:
    """Whether a document is JSON rather than markup (by its first character)."""
    return text.lstrip()[:1] in ("{", "[")


def _str(value: Any) -> str:
    """A string field as one line of plain text (JSON Feed strings carry no entities, so
    nothing is decoded); anything that is not a string is nothing."""
    return collapse(value) if isinstance(value, str) else ""


def _when(value: Any) -> datetime | None:
    """An RFC 3339 date (some feeds write RFC 822 ones) in UTC, as the RSS/Atom path gives
    them; naive times are taken as UTC."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        try:
            moment = parsedate_to_datetime(value.strip())
        except (TypeError, ValueError, IndexError):
            return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


def _authors(holder: dict[str, Any]) -> tuple[str, ...]:
    """The names in 1.1's `authors` list, else in 1.0's single `author` object."""
    found = holder.get("authors")
    if not isinstance(found, list):
        found = [holder.get("author")]
    names = (author_name(a.get("name")) for a in found if isinstance(a, dict))
    return tuple(n for n in names if n)


def item_to_paper(
    item: Any, *, source: str, base: str = "", authors: tuple[str, ...] = ()
) -> Paper | None:
    """One JSON Feed item as a Paper (None for one that is not an object or carries
    nothing usable); `authors` are the feed's, for items that name none of their own."""
    if not isinstance(item, dict):
        return None
    raw_id = item.get("id")  # a string by the spec; some 1.0 feeds write a number
    is_number = isinstance(raw_id, int) and not isinstance(raw_id, bool)
    ident = _str(str(raw_id) if is_number else raw_id)
    url, external = _str(item.get("url")), _str(item.get("external_url"))
    link = web_url(url, base) or web_url(external, base)
    title = _str(item.get("title"))
    markup = item.get("content_html")
    texts = (
        _str(item.get("content_text")),
        html_to_text(markup if isinstance(markup, str) else ""),
        _str(item.get("summary")),
    )
    abstract = max(texts, key=len)  # the fullest of them, as the RSS/Atom path does
    if not (title or abstract or link):
        return None
    pid, version = canonical_id(
        candidates=(ident or None, url or None, external or None),
        guid=ident or None,
        link=link,
        title=title or abstract[:200],
    )
    tags = item.get("tags")
    categories = tuple(t for t in map(_str, tags if isinstance(tags, list) else ()) if t)
    return Paper(
        id=pid,
        version=version,
        title=title or "(untitled)",
        link=link or "",
        authors=_authors(item) or authors,
        abstract=abstract,
        categories=categories,
        published=_when(item.get("date_published")) or _when(item.get("date_modified")),
        source=source,
    )


def parse(text: str, *, source: str, base: str = "") -> Listing:
    """Parse a JSON Feed into a Listing; a JSON document that is not one raises SourceError
    naming what it is. Relative URLs resolve against `base`, else the feed's own URL."""
    try:
        data = json.loads(text)
    except RecursionError:
        raise SourceError(
            f"source {source!r}: a JSON document nested too deep, not a JSON Feed", source=source
        ) from None
    except json.JSONDecodeError as exc:
        raise SourceError(
            f"source {source!r}: not valid JSON ({exc.msg} at line {exc.lineno}); "
            "the response was cut or is not a JSON Feed",
            source=source,
        ) from None
    except ValueError as exc:  # a number longer than Python reads (int_max_str_digits)
        raise SourceError(f"source {source!r}: unreadable JSON ({exc})", source=source) from None
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else type(data).__name__
        raise SourceError(
            f"source {source!r}: a JSON {kind}, not a JSON Feed (which is an object)",
            source=source,
        )
    version = data.get("version")
    if not isinstance(version, str) or not version.startswith(VERSION):
        detail = "no version" if version is None else f"version {_str(str(version))[:80]!r}"
        said = _str(data.get("error") or data.get("message"))[:200]  # an API's error body
        if said:
            detail += f"; it says {said!r}"
        raise SourceError(
            f"source {source!r}: a JSON document, not a JSON Feed ({detail})", source=source
        )
    items = data.get("items")
    if not isinstance(items, list):
        raise SourceError(f"source {source!r}: a JSON Feed without an items list", source=source)
    own = web_url(_str(data.get("feed_url"))) or web_url(_str(data.get("home_page_url")))
    base = base or own or ""
    authors = _authors(data)
    papers = tuple(
        p for p in (item_to_paper(i, source=source, base=base, authors=authors) for i in items) if p
    )
    batch = max((p.published for p in papers if p.published), default=None)
    return Listing(papers=papers, title=_str(data.get("title")), batch=batch)
