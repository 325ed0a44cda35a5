"""Bounce rows: each hard or soft failure an address met (once per bounce message or
refusal), and the addresses paused by them until an operator resumes them."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, func, select

from digest.models import Bounce, Pause
from digest.store.ledger import insert_ignore
from digest.store.schema import bounces, paused
from digest.timeutil import to_text


def record(
    conn: Connection, bounce: Bounce, *, now: datetime, soft_limit: int, soft_days: int
) -> Pause | None:
    """Keep `bounce` (a second sight of the same one counts once) and pause its address after
    a hard bounce or `soft_limit` soft ones within `soft_days` days; the pause when this
    bounce made one, None when the address was already paused or still is not."""
    key = bounce.email.casefold()
    conn.execute(
        insert_ignore(conn, bounces).values(
            email=key,
            ref=bounce.ref[:255],
            kind=bounce.kind,
            status=bounce.status[:32],
            via=bounce.via,
            at=to_text(now),
        )
    )
    if conn.execute(select(paused.c.email).where(paused.c.email == key)).first():
        return None
    if bounce.kind == "hard":
        reason = f"hard bounce {bounce.status}"
    else:
        since = to_text(now - timedelta(days=soft_days))
        soft = conn.execute(
            select(func.count())
            .select_from(bounces)
            .where((bounces.c.email == key) & (bounces.c.kind == "soft") & (bounces.c.at >= since))
        ).scalar_one()
        if soft < soft_limit:
            return None
        reason = f"{soft} soft bounces in {soft_days} days, the last {bounce.status}"
    pause = Pause(key, to_text(now), bounce.kind, bounce.status[:32], reason)
    conn.execute(
        paused.insert().values(
            email=key, since=pause.since, kind=pause.kind, status=pause.status, reason=reason
        )
    )
    return pause


def paused_now(conn: Connection) -> dict[str, Pause]:
    """Every paused address (case-folded) with why and since when."""
    return {
        r.email: Pause(r.email, r.since, r.kind, r.status, r.reason)
        for r in conn.execute(select(paused))
    }


def resume(conn: Connection, email: str) -> bool:
    """Lift `email`'s pause and forget its bounces (a fresh start); False when it was not
    paused."""
    key = email.casefold()
    done = conn.execute(delete(paused).where(paused.c.email == key)).rowcount
    conn.execute(delete(bounces).where(bounces.c.email == key))
    return bool(done)
