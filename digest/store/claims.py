"""Shared runs on one database: a row per run of a schedule group and a claim per subscriber,
so several instances split a run's sending (FOR UPDATE SKIP LOCKED, leases that expire when
an instance dies) and a scheduled send happens once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, and_, exists, func, insert, or_, select, update

from digest.store.ledger import insert_ignore
from digest.store.schema import claims, group_runs
from digest.timeutil import from_text, to_text

OPEN_LOCK_KEY = 0x50445F4F50454E52  # "PD_OPENR": instances open a group's run one at a time
UNFINISHED = ("fetching", "sending")


@dataclass(frozen=True)
class SharedRun:
    """One run of a schedule group as the database records it."""

    id: int
    group_key: str
    label: str
    fire: str | None
    run_at: datetime
    leader: str
    state: str
    lease_until: float
    cursor: int | None


@dataclass(frozen=True)
class Opened:
    """What an instance does with a group's run: lead it (fetch, then open the claims),
    join it (claim subscribers once it is sending), or nothing (that send already happened)."""

    run: SharedRun
    role: Literal["lead", "join", "done"]


def _shared(row: Any) -> SharedRun:
    run_at = from_text(row.run_at)
    assert run_at is not None  # written by open_run, never empty
    return SharedRun(
        id=int(row.id),
        group_key=row.group_key,
        label=row.label,
        fire=row.fire,
        run_at=run_at,
        leader=row.leader,
        state=row.state,
        lease_until=float(row.lease_until),
        cursor=row.cursor,
    )


def load_run(conn: Connection, run_id: int) -> SharedRun:
    """The run `run_id` as it stands now."""
    return _shared(conn.execute(select(group_runs).where(group_runs.c.id == run_id)).one())


def open_run(
    conn: Connection,
    *,
    group_key: str,
    label: str,
    fire: datetime | None,
    run_at: datetime,
    instance: str,
    wall: float,
    lease: float,
    stale: float,
) -> Opened:
    """Lead a new run of the group, join its unfinished one, take over one whose leader died
    while fetching, or say the scheduled `fire` was already served. Unfinished runs that
    started more than `stale` seconds ago are abandoned: the next run's candidate windows
    still hold every paper their subscribers did not get."""
    if conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(OPEN_LOCK_KEY)))
    mine = group_runs.c.group_key == group_key
    conn.execute(
        update(group_runs)
        .where(mine, group_runs.c.state.in_(UNFINISHED), group_runs.c.started < wall - stale)
        .values(state="abandoned", finished=wall)
    )
    row = conn.execute(
        select(group_runs)
        .where(mine, group_runs.c.state.in_(UNFINISHED))
        .order_by(group_runs.c.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        if row.state == "fetching" and row.lease_until < wall:
            return Opened(take_over(conn, int(row.id), instance, wall=wall, lease=lease), "lead")
        return Opened(_shared(row), "join")
    fired = to_text(fire) if fire is not None else None
    if fired is not None:
        done = conn.execute(
            select(group_runs)
            .where(mine, group_runs.c.fire == fired, group_runs.c.state == "finished")
            .limit(1)
        ).first()
        if done is not None:
            return Opened(_shared(done), "done")
    new_id = conn.execute(
        insert(group_runs)
        .values(
            group_key=group_key,
            label=label,
            fire=fired,
            run_at=to_text(run_at),
            leader=instance,
            state="fetching",
            lease_until=wall + lease,
            started=wall,
        )
        .returning(group_runs.c.id)
    ).scalar_one()
    return Opened(load_run(conn, int(new_id)), "lead")


def take_over(
    conn: Connection, run_id: int, instance: str, *, wall: float, lease: float
) -> SharedRun:
    """Become the leader of a run whose leader's lease ran out while it was fetching."""
    conn.execute(
        update(group_runs)
        .where(group_runs.c.id == run_id, group_runs.c.lease_until < wall)
        .values(leader=instance, lease_until=wall + lease)
    )
    return load_run(conn, run_id)


def renew_run(conn: Connection, run_id: int, instance: str, until: float) -> None:
    """The leader is alive: extend its lease on the run."""
    conn.execute(
        update(group_runs)
        .where(group_runs.c.id == run_id, group_runs.c.leader == instance)
        .values(lease_until=until)
    )


def begin_sending(
    conn: Connection, run_id: int, *, cursor: int, subscribers: Sequence[str]
) -> None:
    """One claim per subscriber, then the run is open to every instance at `cursor`."""
    rows = [
        {"run_id": run_id, "subscriber": who, "position": i}
        for i, who in enumerate(dict.fromkeys(subscribers))
    ]
    if rows:
        conn.execute(insert_ignore(conn, claims), rows)
    conn.execute(
        update(group_runs)
        .where(group_runs.c.id == run_id, group_runs.c.state == "fetching")
        .values(state="sending", cursor=cursor)
    )


def _open(run_id: int) -> Any:
    return and_(claims.c.run_id == run_id, claims.c.done == 0)


def claim(
    conn: Connection, run_id: int, instance: str, *, size: int, wall: float, lease: float
) -> list[str]:
    """Up to `size` subscribers nobody holds (or whose holder's lease ran out), in config
    order, now held by `instance` until wall + lease. Rows another instance is claiming at
    this moment are skipped, not waited for (PostgreSQL: FOR UPDATE SKIP LOCKED)."""
    free = or_(claims.c.claimed_by.is_(None), claims.c.lease_until < wall)
    picked = list(
        conn.execute(
            select(claims.c.subscriber)
            .where(_open(run_id), free)
            .order_by(claims.c.position)
            .limit(size)
            .with_for_update(skip_locked=True)
        ).scalars()
    )
    if not picked:
        return []
    # the same condition again: a database without row locks (SQLite) may have let another
    # claimer pick the same rows; only the rows this update took are this instance's
    taken = set(
        conn.execute(
            update(claims)
            .where(_open(run_id), free, claims.c.subscriber.in_(picked))
            .values(claimed_by=instance, lease_until=wall + lease)
            .returning(claims.c.subscriber)
        ).scalars()
    )
    return [who for who in picked if who in taken]


def renew_claims(conn: Connection, run_id: int, instance: str, until: float) -> None:
    """`instance` is alive: extend its leases on the claims it has not finished."""
    conn.execute(
        update(claims)
        .where(_open(run_id), claims.c.claimed_by == instance)
        .values(lease_until=until)
    )


def finish_claim(
    conn: Connection, run_id: int, subscriber: str, instance: str, outcome: str
) -> None:
    """This subscriber is done for the run (sent, nothing new, or failed for good)."""
    conn.execute(
        update(claims)
        .where(claims.c.run_id == run_id, claims.c.subscriber == subscriber)
        .values(done=1, outcome=outcome, done_by=instance)
    )


def release_claims(conn: Connection, run_id: int, instance: str) -> int:
    """Give back the claims `instance` holds but has not started, for another instance."""
    return int(
        conn.execute(
            update(claims)
            .where(_open(run_id), claims.c.claimed_by == instance)
            .values(claimed_by=None, lease_until=None)
        ).rowcount
    )


def held_elsewhere(conn: Connection, run_id: int, instance: str, wall: float) -> int:
    """Unfinished claims another instance holds with a live lease."""
    return int(
        conn.execute(
            select(func.count())
            .select_from(claims)
            .where(
                _open(run_id),
                claims.c.claimed_by.is_not(None),
                claims.c.claimed_by != instance,
                claims.c.lease_until >= wall,
            )
        ).scalar_one()
    )


def finish_run(conn: Connection, run_id: int, wall: float) -> bool:
    """Mark the run finished once no claim is open; True when this call did it."""
    still_open = exists().where(_open(run_id))
    done = conn.execute(
        update(group_runs)
        .where(group_runs.c.id == run_id, group_runs.c.state == "sending", ~still_open)
        .values(state="finished", finished=wall)
    )
    return bool(done.rowcount)


def recent_shared(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The newest shared runs with, per instance, how many subscribers it finished and how
    many it holds now (with the latest lease)."""
    out = []
    for row in conn.execute(select(group_runs).order_by(group_runs.c.id.desc()).limit(limit)):
        counts = conn.execute(
            select(
                claims.c.done_by,
                claims.c.claimed_by,
                claims.c.done,
                func.count(),
                func.max(claims.c.lease_until),
            )
            .where(claims.c.run_id == row.id)
            .group_by(claims.c.done_by, claims.c.claimed_by, claims.c.done)
        ).all()
        done: dict[str, int] = {}
        held: dict[str, tuple[int, float]] = {}
        waiting = 0
        for done_by, claimed_by, finished, count, until in counts:
            if finished:
                done[done_by or "?"] = done.get(done_by or "?", 0) + int(count)
            elif claimed_by is None:
                waiting += int(count)
            else:
                n, latest = held.get(claimed_by, (0, 0.0))
                held[claimed_by] = (n + int(count), max(latest, float(until or 0.0)))
        out.append(
            {
                "id": int(row.id),
                "label": row.label,
                "leader": row.leader,
                "state": row.state,
                "run_at": row.run_at,
                "started": float(row.started),
                "finished": float(row.finished) if row.finished is not None else None,
                "done": done,
                "held": held,
                "waiting": waiting,
            }
        )
    return out
