"""Hugging Face daily/trending papers: the JSON API and the HTML page's hydration data."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from datetime import UTC, date, datetime
from html.parser import HTMLParser
from typing import Any, Literal
from urllib.parse import urlencode

from pydantic import field_validator

from digest.errors import SourceError
from digest.ids import canonical_id
from digest.models import Paper
from digest.sources.base import Listing, SourceSettings
from digest.sources.text import author_name, collapse
from digest.urls import web_url

API = "https://huggingface.co/api/daily_papers"


def daily_endpoint(day: date) -> str:
    """The daily papers API URL for one day."""
    return f"{API}?{urlencode({'date': day.isoformat()})}"


def trending_endpoint() -> str:
    """The trending papers API URL."""
    return f"{API}?{urlencode({'sort': 'trending'})}"


class _Hydration(HTMLParser):
    """Finds the data-props of the element with data-target="DailyPapers"."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.props: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if self.props is None and found.get("data-target") == "DailyPapers":
            self.props = found.get("data-props")


def _from_html(text: str, source: str) -> Any:
    finder = _Hydration()
    finder.feed(text)
    if not finder.props:
        raise SourceError(
            f"source {source!r}: an HTML page without Hugging Face's DailyPapers data "
            "(an error page?)",
            source=source,
        )
    try:
        props = json.loads(finder.props)
    except RecursionError:
        raise SourceError(f"source {source!r}: DailyPapers data nested too deep") from None
    except json.JSONDecodeError as exc:
        raise SourceError(f"source {source!r}: unreadable DailyPapers data: {exc}") from None
    return props.get("dailyPapers") if isinstance(props, dict) else None


MAX_COUNT = 2**31 - 1  # upvotes and comments are bounded before they reach the store


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) <= 18:
        value = int(value.strip())
    if isinstance(value, int):
        return min(max(value, 0), MAX_COUNT)
    return None


def _str(value: Any) -> str | None:
    return collapse(value) or None if isinstance(value, str) else None


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _authors(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(n for n in (collapse(x) for x in value.split(",")) if n)
    if not isinstance(value, list):
        return ()
    names = []
    for a in value:
        if isinstance(a, dict) and not a.get("hidden") and isinstance(a.get("name"), str):
            names.append(collapse(a["name"]))
    return tuple(n for n in names if n)


def item_to_paper(item: Any, *, source: str) -> Paper | None:
    """One daily_papers element as a Paper; None for elements that are not paper records."""
    if not isinstance(item, dict):
        return None
    inner = item.get("paper")
    paper: dict[str, Any] = inner if isinstance(inner, dict) else {}
    title = _str(paper.get("title")) or _str(item.get("title")) or ""
    summary = _str(paper.get("summary")) or _str(item.get("summary")) or ""
    if not title:
        return None
    raw_id = paper.get("id")
    pid, version = canonical_id(
        candidates=(raw_id if isinstance(raw_id, str) else None,), title=title
    )
    arxiv = pid.removeprefix("arxiv:") if pid.startswith("arxiv:") else None
    return Paper(
        id=pid,
        version=version,
        title=title,
        link=f"https://huggingface.co/papers/{arxiv}" if arxiv else "",
        authors=tuple(author_name(a) for a in _authors(paper.get("authors"))),
        abstract=summary,
        published=_when(paper.get("publishedAt")),
        upvotes=_int(paper.get("upvotes")),
        comments=_int(item.get("numComments")),
        github=web_url(_str(paper.get("githubRepo"))),
        project_page=web_url(_str(paper.get("projectPage"))),
        ai_summary=_str(paper.get("ai_summary")),
        source=source,
    )


def parse(body: bytes, *, source: str) -> Listing:
    """Parse the daily_papers JSON (or the papers HTML page) into a Listing."""
    text = body.decode("utf-8", errors="replace").lstrip("\ufeff")
    if text.lstrip().startswith("<"):
        data = _from_html(text, source)
    else:
        try:
            data = json.loads(text)
        except RecursionError:
            raise SourceError(
                f"source {source!r}: JSON nested too deep to be a list of papers", source=source
            ) from None
        except json.JSONDecodeError as exc:
            raise SourceError(
                f"source {source!r}: not valid JSON ({exc.msg} at line {exc.lineno}); "
                "the response was cut or is not the daily_papers API",
                source=source,
            ) from None
    if isinstance(data, dict) and "error" in data:
        raise SourceError(
            f"source {source!r}: Hugging Face answered an error: {collapse(str(data['error']))}",
            source=source,
        )
    if not isinstance(data, list):
        raise SourceError(
            f"source {source!r}: expected a JSON list of papers, found {type(data).__name__}",
            source=source,
        )
    papers = tuple(p for p in (item_to_paper(i, source=source) for i in data) if p)
    featured = [
        _when(i["paper"].get("submittedOnDailyAt"))
        for i in data
        if isinstance(i, dict) and isinstance(i.get("paper"), dict)
    ]
    batch = max((f for f in featured if f), default=None)
    return Listing(papers=papers, title="Hugging Face papers", batch=batch)


class HfDailySource(SourceSettings):
    """Hugging Face daily papers for one day (default: the run's day, UTC)."""

    type: Literal["hf-daily"]
    date: dt.date | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _parse_date(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"expected a date like 2025-09-16, found {value!r}") from None
        return value

    def endpoint(self, day: dt.date) -> str:
        """The configured day's papers, else the run's day."""
        return daily_endpoint(self.date or day)

    def parse(
        self, body: bytes, base: str = "", headers: Mapping[str, str] | None = None
    ) -> Listing:
        """The daily_papers JSON or the papers HTML page."""
        return parse(body, source=self.name)


class HfTrendingSource(SourceSettings):
    """Hugging Face trending papers."""

    type: Literal["hf-trending"]

    def endpoint(self, day: dt.date) -> str:
        """The trending list (the same whatever the day)."""
        return trending_endpoint()

    def parse(
        self, body: bytes, base: str = "", headers: Mapping[str, str] | None = None
    ) -> Listing:
        """The daily_papers JSON or the papers HTML page."""
        return parse(body, source=self.name)
