"""The table of source types: a new type is one module with its settings class, plus one
line here. The config validates `[[sources]]` entries against this table by their `type`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Union

from pydantic import Field

from digest.sources.arxiv import ArxivSource
from digest.sources.arxiv_api import ArxivApiSource
from digest.sources.base import SourceSettings
from digest.sources.feed import FeedSource
from digest.sources.hf import HfDailySource, HfTrendingSource

TYPES: tuple[type[SourceSettings], ...] = (
    FeedSource,
    ArxivSource,
    ArxivApiSource,
    HfDailySource,
    HfTrendingSource,
)
SOURCE_TYPES: tuple[str, ...] = tuple(
    str(t.model_fields["type"].annotation.__args__[0])  # type: ignore[union-attr]
    for t in TYPES
)

if TYPE_CHECKING:
    AnySource = SourceSettings
else:  # pydantic picks the class by the `type` key
    AnySource = Annotated[Union[TYPES], Field(discriminator="type")]  # noqa: UP007
