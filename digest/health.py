"""Reading run history: sources failing run after run, and a one-screen status; pure."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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


def run_summary(report: dict[str, Any]) -> dict[str, Any]:
    """One run as status shows it: times, source and email counts, duration."""
    sources = report.get("sources", [])
    deliveries = report.get("deliveries", [])
    started, finished = report.get("started", ""), report.get("finished", "")
    return {
        "started": started,
        "finished": finished,
        "sources_ok": sum(1 for s in sources if s["status"] in ("ok", "not-modified", "no-batch")),
        "sources_stale": sum(1 for s in sources if s["status"] == "stale"),
        "sources_failed": sum(1 for s in sources if s["status"] == "failed"),
        "emails_sent": sum(1 for d in deliveries if d["status"] == "sent"),
        "emails_failed": sum(1 for d in deliveries if d["status"] == "failed"),
        "new_papers": report.get("new_papers", 0),
        "sending_seconds": report.get("sending_seconds", 0.0),
    }
