"""What one run carries through its phases: its fixed parts (config, store, outbox, the
instance's ownership, the planning thread) and what it has done so far, for its report."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

from digest.config.values import Config
from digest.fetch import Fetcher
from digest.mail.deliver import Outbox
from digest.models import DeliveryOutcome, SourceOutcome
from digest.ranking.semantic import Embedder
from digest.run.deliver import Halt
from digest.run.group import Group
from digest.run.owner import Ownership
from digest.run.plan import Ranker
from digest.store import Store

T = TypeVar("T")


@dataclass
class Done:
    """What a run has done so far, for its report."""

    outcomes: list[SourceOutcome] = field(default_factory=list)
    deliveries: list[DeliveryOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    count: int = 0
    ranker: Ranker | None = None  # made once this instance knows the run's cursor


@dataclass(frozen=True)
class Run:
    """One run's fixed parts, shared by its phases."""

    config: Config
    group: Group
    store: Store
    outbox: Outbox
    fetcher: Fetcher
    owner: Ownership
    halt: Halt
    embedder: Embedder | None
    progress: Callable[[int, int], None] | None
    stop: asyncio.Event | None
    only: frozenset[str] | None  # a preview: the addresses to deliver to (ranked with all)
    planner: ThreadPoolExecutor
    # seconds spent on the planning thread so far (one mutable cell: the run is frozen)
    planned_seconds: list[float] = field(default_factory=lambda: [0.0])

    @property
    def recorded(self) -> bool:
        """Whether the run is kept in the store's group runs: not a dry-run or a preview,
        which plan a private run of their own and never read or lock those rows."""
        return not self.outbox.dry_run

    async def planning(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`work` on the run's one planning thread: the event loop keeps answering, and
        chunk after chunk reuses one thread's memory instead of spreading it over many."""
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            return await loop.run_in_executor(
                self.planner, functools.partial(work, *args, **kwargs)
            )
        finally:
            self.planned_seconds[0] += time.perf_counter() - started


async def pause(stop: asyncio.Event | None, seconds: float) -> None:
    """Wait `seconds`, or less when the run is told to stop."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
