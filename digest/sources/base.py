"""What every source type shares: the Listing a parser returns and the settings base class
whose `endpoint` and `parse` each source type fills in; pure."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime

from pydantic import Field, field_validator

from digest.config.fields import Strict, Text, as_tuple
from digest.models import Paper


@dataclass(frozen=True)
class Listing:
    """What one fetched document held: its papers, when its batch was published, and the
    XML error its parser recovered from (for the run report; None when there was none)."""

    papers: tuple[Paper, ...]
    title: str = ""
    batch: datetime | None = None
    recovered: str | None = None


class SourceSettings(Strict):
    """One `[[sources]]` entry. A source type subclasses this with `type` as a Literal, its
    own keys, `endpoint` (where to fetch by default) and `parse` (bytes -> Listing)."""

    type: str
    name: Text = Field(min_length=1)
    url: Text | None = None
    announce_types: tuple[Text, ...] = ("new", "cross")

    _announce = field_validator("announce_types", mode="before")(as_tuple)

    def endpoint(self, day: date) -> str:
        """The URL to fetch for a run on `day` when no `url` is configured."""
        raise NotImplementedError(f"source type {self.type!r} needs a url")

    def parse(
        self, body: bytes, base: str = "", headers: Mapping[str, str] | None = None
    ) -> Listing:
        """Turn this source's fetched bytes into a Listing (SourceError when they are not);
        `base` is the URL they came from, for relative links, and `headers` the response
        headers a parser may use (Content-Type, Content-Location, Content-Language)."""
        raise NotImplementedError

    def location(self, day: date) -> str:
        """Where to fetch for a run on `day`: an explicit `url` always wins."""
        return self.url or self.endpoint(day)
