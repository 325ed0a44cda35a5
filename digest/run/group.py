"""A schedule group as every instance names it: its key, how its subscribers are cut into
chunks, and how this instance takes part in its runs."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from digest.run.owner import instance_name


def group_key(emails: Sequence[str]) -> str:
    """The same key on every instance with the same subscribers in the group."""
    return hashlib.sha256("\n".join(emails).encode("utf-8")).hexdigest()[:32]


def chunk_size(subscribers: int, *, shared: bool) -> int:
    """Subscribers per chunk: at most 1024, so a run's ranking arrays stay small whatever
    the group's size; on a shared database, small enough that instances split even a small
    group (about 32 chunks a run)."""
    return min(1024, max(1, math.ceil(subscribers / 32))) if shared else 1024


@dataclass(frozen=True)
class Group:
    """The schedule group a run serves, named alike by every instance (`fire`: the moment a
    `serve` job fired for; None for `digest run`), and how this instance takes part."""

    label: str = "all subscribers"
    fire: datetime | None = None
    instance: str = field(default_factory=instance_name)
    failover: float = 20.0  # a silent instance's session (and its share) ends after this
    poll: float = 0.5  # how often to look again at work other instances hold
    stale: float = 6 * 3600.0  # an unfinished run older than this is abandoned, not taken up
