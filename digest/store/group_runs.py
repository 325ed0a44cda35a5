"""A row per run of a schedule group (its planned moment, cursor and chunking) and a row per
finished chunk of its subscribers. Who works on a run is not written here: that is held by
database sessions (see ``locks``); these rows say only what is planned and what is done.
Every time comes from the database's clock, never from an instance's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Connection, func, insert, select, update

from digest.store.ledger import insert_ignore
from digest.store.schema import group_runs, run_chunks
from digest.timeutil import from_text, to_text

OPEN_LOCK_KEY = 0x50445F4F50454E52  # "PD_OPENR": instances open a group's run one at a time
UNFINISHED = ("fetching", "sending")


@dataclass(frozen=True)
class GroupRun:
    """One run of a schedule group as the database records it."""

    id: int
    label: str
    run_at: datetime
    leader: str
    state: str
    cursor: int | None
    chunk_size: int
    chunks: int


@dataclass(frozen=True)
class Opened:
    """What an instance does with a group's run: work on it (fetch if it is still fetching,
    then send chunks), or nothing (that scheduled send already happened)."""

    run: GroupRun
    role: Literal["new", "unfinished", "done"]


def db_clock(conn: Connection) -> float:
    """The database's clock in epoch seconds: one clock for every instance."""
    if conn.dialect.name == "postgresql":
        now = select(func.extract("epoch", func.clock_timestamp()))
    else:
        now = select((func.julianday("now") - 2440587.5) * 86400.0)
    return float(conn.execute(now).scalar_one())


def _run(row: Any) -> GroupRun:
    run_at = from_text(row.run_at)
    assert run_at is not None  # written by open_run, never empty
    return GroupRun(
        id=int(row.id),
        label=row.label,
        run_at=run_at,
        leader=row.leader,
        state=row.state,
        cursor=row.cursor,
        chunk_size=int(row.chunk_size or 0),
        chunks=int(row.chunks or 0),
    )


def load_run(conn: Connection, run_id: int) -> GroupRun:
    """The run `run_id` as it stands now."""
    return _run(conn.execute(select(group_runs).where(group_runs.c.id == run_id)).one())


def open_run(
    conn: Connection,
    *,
    group_key: str,
    label: str,
    fire: datetime | None,
    run_at: datetime,
    instance: str,
    stale: float,
    serialise: bool = True,
) -> Opened:
    """Pick up the group's unfinished run (its plan stands: same moment, same cursor), say
    the scheduled `fire` was already served, or open a new run. Unfinished runs that began
    more than `stale` seconds ago (database clock) are abandoned: the next run's candidate
    windows still hold every paper their subscribers did not get."""
    if serialise and conn.dialect.name == "postgresql":
        conn.execute(select(func.pg_advisory_xact_lock(OPEN_LOCK_KEY)))
    now = db_clock(conn)
    mine = group_runs.c.group_key == group_key
    conn.execute(
        update(group_runs)
        .where(mine, group_runs.c.state.in_(UNFINISHED), group_runs.c.started < now - stale)
        .values(state="abandoned", finished=now)
    )
    row = conn.execute(
        select(group_runs)
        .where(mine, group_runs.c.state.in_(UNFINISHED))
        .order_by(group_runs.c.id.desc())
        .limit(1)
    ).first()
    if row is not None:
        return Opened(_run(row), "unfinished")
    fired = to_text(fire) if fire is not None else None
    if fired is not None:
        done = conn.execute(
            select(group_runs)
            .where(mine, group_runs.c.fire == fired, group_runs.c.state == "finished")
            .limit(1)
        ).first()
        if done is not None:
            return Opened(_run(done), "done")
    new_id = conn.execute(
        insert(group_runs)
        .values(
            group_key=group_key,
            label=label,
            fire=fired,
            run_at=to_text(run_at),
            leader=instance,
            state="fetching",
            started=now,
        )
        .returning(group_runs.c.id)
    ).scalar_one()
    return Opened(load_run(conn, int(new_id)), "new")


def begin_sending(
    conn: Connection, run_id: int, *, cursor: int, chunk_size: int, chunks: int
) -> None:
    """Fetching is over: every instance may now send the run's chunks, ranking to `cursor`."""
    conn.execute(
        update(group_runs)
        .where(group_runs.c.id == run_id, group_runs.c.state == "fetching")
        .values(state="sending", cursor=cursor, chunk_size=chunk_size, chunks=chunks)
    )


def chunk_done(conn: Connection, run_id: int, chunk: int) -> bool:
    """Whether some instance finished this chunk of the run."""
    found = conn.execute(
        select(run_chunks.c.chunk).where(run_chunks.c.run_id == run_id, run_chunks.c.chunk == chunk)
    ).first()
    return found is not None


def finish_chunk(
    conn: Connection, run_id: int, chunk: int, *, instance: str, subscribers: int
) -> None:
    """The chunk is done: each of its subscribers was sent, had nothing new or failed."""
    conn.execute(
        insert_ignore(conn, run_chunks),
        {
            "run_id": run_id,
            "chunk": chunk,
            "instance": instance,
            "subscribers": subscribers,
            "finished": db_clock(conn),
        },
    )


def finish_run(conn: Connection, run_id: int) -> bool:
    """Mark the run finished once every chunk is; True when this call did it."""
    run = load_run(conn, run_id)
    if run.state != "sending":
        return False
    done = conn.execute(
        select(func.count()).select_from(run_chunks).where(run_chunks.c.run_id == run_id)
    ).scalar_one()
    if int(done) < run.chunks:
        return False
    changed = conn.execute(
        update(group_runs)
        .where(group_runs.c.id == run_id, group_runs.c.state == "sending")
        .values(state="finished", finished=db_clock(conn))
    )
    return bool(changed.rowcount)


def recent_group_runs(conn: Connection, limit: int) -> list[dict[str, Any]]:
    """The newest runs, each with the subscribers every instance finished."""
    out = []
    for row in conn.execute(select(group_runs).order_by(group_runs.c.id.desc()).limit(limit)):
        done = conn.execute(
            select(run_chunks.c.instance, func.sum(run_chunks.c.subscribers), func.count())
            .where(run_chunks.c.run_id == row.id)
            .group_by(run_chunks.c.instance)
        ).all()
        out.append(
            {
                "id": int(row.id),
                "label": row.label,
                "leader": row.leader,
                "state": row.state,
                "run_at": row.run_at,
                "started": float(row.started),
                "finished": float(row.finished) if row.finished is not None else None,
                "chunks": int(row.chunks or 0),
                "done": {who: int(n or 0) for who, n, _ in done},
                "chunks_done": sum(int(c) for _, _, c in done),
            }
        )
    return out
