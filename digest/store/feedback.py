"""Feedback rows: a subscriber's latest "more like this" (+1) or "less like this" (-1) per
paper, kept until they (or the operator) forget it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import Connection, case, delete, func, select

from digest.store.schema import feedback, papers
from digest.timeutil import to_text


def record(conn: Connection, email: str, paper_id: str, value: int, *, now: datetime) -> None:
    """Set `email`'s word on `paper_id` (the latest click wins)."""
    key = email.casefold()
    where = (feedback.c.email == key) & (feedback.c.paper_id == paper_id)
    conn.execute(delete(feedback).where(where))
    conn.execute(
        feedback.insert().values(email=key, paper_id=paper_id, value=value, at=to_text(now))
    )


def undo(conn: Connection, email: str, paper_id: str) -> bool:
    """Forget `email`'s word on one paper; False when there was none."""
    key = email.casefold()
    where = (feedback.c.email == key) & (feedback.c.paper_id == paper_id)
    return bool(conn.execute(delete(feedback).where(where)).rowcount)


def forget(conn: Connection, email: str) -> int:
    """Forget everything `email` said about papers; how many."""
    done = conn.execute(delete(feedback).where(feedback.c.email == email.casefold()))
    return int(done.rowcount)


def of(conn: Connection, email: str) -> list[tuple[str, int, str, str]]:
    """(paper id, value, when, title or '') of everything `email` said, newest first."""
    rows = conn.execute(
        select(feedback.c.paper_id, feedback.c.value, feedback.c.at, papers.c.title)
        .join(papers, papers.c.id == feedback.c.paper_id, isouter=True)
        .where(feedback.c.email == email.casefold())
        .order_by(feedback.c.at.desc(), feedback.c.paper_id)
    )
    return [(r.paper_id, int(r.value), r.at, r.title or "") for r in rows]


def votes(conn: Connection, emails: Iterable[str]) -> dict[str, dict[str, int]]:
    """Per address (case-folded): paper id -> +1 / -1."""
    keys = sorted({e.casefold() for e in emails})
    out: dict[str, dict[str, int]] = {}
    for start in range(0, len(keys), 500):  # bounded IN lists
        part = keys[start : start + 500]
        rows = conn.execute(select(feedback).where(feedback.c.email.in_(part)))
        for r in rows:
            out.setdefault(r.email, {})[r.paper_id] = int(r.value)
    return out


def counts(conn: Connection) -> dict[str, tuple[int, int]]:
    """Per address: (liked, disliked) papers."""
    liked = func.sum(case((feedback.c.value > 0, 1), else_=0))
    rows = conn.execute(select(feedback.c.email, liked, func.count()).group_by(feedback.c.email))
    return {r[0]: (int(r[1] or 0), int(r[2]) - int(r[1] or 0)) for r in rows}
