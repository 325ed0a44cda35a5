"""Map a configured source to the URL to fetch and the parser for its bytes; pure."""

from __future__ import annotations

from datetime import datetime

from digest.config import (
    ArxivApiSource,
    ArxivSource,
    Config,
    FeedSource,
    HfDailySource,
    HfTrendingSource,
    SourceSettings,
)
from digest.sources import arxiv, arxiv_api, feed, hf
from digest.sources.feed import Listing


def endpoint(config: Config, source: SourceSettings, *, now: datetime) -> str:
    """Where to fetch `source` for a run at `now`; an explicit `url` always wins."""
    if source.url:
        return config.source_location(source.url)
    if isinstance(source, ArxivSource):
        return arxiv.endpoint(source.categories)
    if isinstance(source, ArxivApiSource):
        return arxiv_api.endpoint(source.query, source.max_results)
    if isinstance(source, HfDailySource):
        return hf.daily_endpoint(source.date or now.date())
    if isinstance(source, HfTrendingSource):
        return hf.trending_endpoint()
    raise AssertionError(f"unhandled source type {source.type!r}")  # pragma: no cover


def parse(source: SourceSettings, body: bytes) -> Listing:
    """Turn `source`'s fetched bytes into a Listing with the parser for its type."""
    if isinstance(source, FeedSource):
        return feed.parse(body, source=source.name)
    if isinstance(source, ArxivSource):
        return arxiv.parse(body, source=source.name)
    if isinstance(source, ArxivApiSource):
        return arxiv_api.parse(body, source=source.name)
    return hf.parse(body, source=source.name)
