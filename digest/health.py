"""Reading run history: sources failing run after run, the status screen and health as
values; pure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from digest.timeutil import iso

HEALTHY_WITHIN_HOURS = 48


@dataclass(frozen=True)
class RunSummary:
    """One run as status shows it: times, source and email counts, duration."""

    started: str
    finished: str
    sources_ok: int
    sources_stale: int
    sources_failed: int
    emails_sent: int
    emails_failed: int
    new_papers: int
    sending_seconds: float
    instance: str = ""  # which instance did this run (shared runs on PostgreSQL)


@dataclass(frozen=True)
class SubscriberStatus:
    """A subscriber's newest delivery (None: never) and how many papers they were sent."""

    name: str
    email: str
    last_delivery: str | None
    papers_sent: int
    unsubscribed: str | None = None  # since when, when they opted out through their link
    paused: str | None = None  # why bounces paused the address ("hard bounce 5.1.1 on ...")


@dataclass(frozen=True)
class SharedRunStatus:
    """A run of a schedule group on a shared database: who opened it, its state, how many
    subscribers each instance finished, and which parts instances hold now (from the
    database's locks: "fetching" or "chunk N", with the holder)."""

    id: int
    label: str
    state: str
    leader: str
    started: str
    finished: str | None
    done: dict[str, int]
    chunks: int
    chunks_done: int
    held: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Status:
    """What `digest status` shows."""

    store: str
    runs: tuple[RunSummary, ...]
    subscribers: tuple[SubscriberStatus, ...]
    papers: int
    failing_sources: dict[str, int]
    shared: tuple[SharedRunStatus, ...] = ()


def _epoch(value: float | None) -> str | None:
    return datetime.fromtimestamp(value, UTC).isoformat(timespec="seconds") if value else None


def shared_summary(row: dict[str, Any]) -> SharedRunStatus:
    """One shared run as the store reports it (times in epoch seconds) as status shows it."""
    return SharedRunStatus(
        id=row["id"],
        label=row["label"],
        state=row["state"],
        leader=row["leader"],
        started=_epoch(row["started"]) or "",
        finished=_epoch(row["finished"]),
        done=dict(row["done"]),
        chunks=row["chunks"],
        chunks_done=row["chunks_done"],
        held=tuple(("fetching" if part < 0 else f"chunk {part}", who) for part, who in row["held"]),
    )


@dataclass(frozen=True)
class Health:
    """Healthy or not, and why."""

    ok: bool
    why: str


def failing_streaks(runs: Sequence[dict[str, Any]]) -> dict[str, int]:
    """For each source, in how many of the newest runs in a row it failed (`runs` newest
    first, as recorded)."""
    streaks: dict[str, int] = {}
    settled: set[str] = set()
    for report in runs:
        for source in report.get("sources", []):
            name = source["name"]
            if name in settled:
                continue
            if source["status"] == "failed":
                streaks[name] = streaks.get(name, 0) + 1
            else:
                settled.add(name)
                streaks.setdefault(name, 0)
    return streaks


def run_summary(report: dict[str, Any]) -> RunSummary:
    """One recorded run report as status shows it."""
    sources = report.get("sources", [])
    deliveries = report.get("deliveries", [])
    return RunSummary(
        started=iso(report.get("started")) or "",
        finished=iso(report.get("finished")) or "",
        sources_ok=sum(1 for s in sources if s["status"] in ("ok", "not-modified", "no-batch")),
        sources_stale=sum(1 for s in sources if s["status"] == "stale"),
        sources_failed=sum(1 for s in sources if s["status"] == "failed"),
        emails_sent=sum(1 for d in deliveries if d["status"] == "sent"),
        emails_failed=sum(1 for d in deliveries if d["status"] == "failed"),
        new_papers=report.get("new_papers", 0),
        sending_seconds=report.get("sending_seconds", 0.0),
        instance=report.get("instance", ""),
    )


def healthy(status: Status, now: datetime) -> Health:
    """Healthy: the store reads, and the newest run (if any) finished recently and reached
    at least one source."""
    if not status.runs:
        return Health(True, "no runs yet")
    newest = status.runs[0]
    finished = datetime.fromisoformat(newest.finished)
    age = (now - finished).total_seconds() / 3600
    if age > HEALTHY_WITHIN_HOURS:
        return Health(False, f"newest run finished {age:.0f} h ago")
    if newest.sources_ok + newest.sources_stale == 0 and newest.sources_failed:
        return Health(False, "every source failed in the newest run")
    return Health(True, f"newest run {age:.1f} h ago")
