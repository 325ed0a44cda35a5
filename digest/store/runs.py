"""Per-source feed state between runs, and the run reports `digest status` reads."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, insert, select, update

from digest.models import FeedState, RunReport
from digest.store.schema import feed_state, runs
from digest.timeutil import from_text, to_text


def load_feed_state(conn: Connection, source: str) -> FeedState:
    """What was remembered of `source` after its last successful fetch."""
    row = conn.execute(select(feed_state).where(feed_state.c.source == source)).first()
    if row is None:
        return FeedState()
    return FeedState(etag=row.etag, last_modified=row.last_modified, batch=from_text(row.batch))


def save_feed_state(conn: Connection, source: str, state: FeedState, *, now: datetime) -> None:
    """Remember validators and the newest batch time of `source`."""
    values = {
        "etag": state.etag,
        "last_modified": state.last_modified,
        "batch": to_text(state.batch) if state.batch else None,
        "checked": to_text(now),
    }
    done = conn.execute(update(feed_state).where(feed_state.c.source == source).values(**values))
    if done.rowcount == 0:
        conn.execute(insert(feed_state).values(source=source, **values))


def recent_runs(conn: Connection, limit: int, *, real_only: bool) -> list[dict[str, Any]]:
    """The newest run reports (as recorded), newest first."""
    query = select(runs.c.report).order_by(runs.c.id.desc()).limit(limit)
    if real_only:
        query = query.where(runs.c.dry_run == 0)
    return [json.loads(r) for r in conn.execute(query).scalars()]


def _jsonable(value: object) -> str:
    """Times as ISO 8601, anything else as its text."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


def record_run(conn: Connection, report: RunReport) -> None:
    """Keep the run report."""
    conn.execute(
        insert(runs).values(
            started=to_text(report.started),
            finished=to_text(report.finished),
            dry_run=int(report.dry_run),
            report=json.dumps(asdict(report), default=_jsonable),
        )
    )
