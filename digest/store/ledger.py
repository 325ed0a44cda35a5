"""The delivery ledger: which papers went to whom, written only after SMTP accepted."""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from digest.errors import StoreError
from digest.store.schema import deliveries
from digest.timeutil import to_text


def insert_ignore(conn: Connection, table: Table) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING in this connection's dialect."""
    return insert_ignore_for(conn.dialect.name, table)


@functools.lru_cache(maxsize=64)
def insert_ignore_for(name: str, table: Table) -> Any:
    """One statement per dialect and table: SQLAlchemy memoises its cache key on the object,
    so the ledger's insert after every accepted digest is not rebuilt and re-keyed."""
    if name == "sqlite":
        return sqlite_insert(table).on_conflict_do_nothing()
    if name == "postgresql":
        return postgresql_insert(table).on_conflict_do_nothing()
    raise StoreError(f"unsupported database {name!r}")


COLUMNS = tuple(c.key for c in deliveries.columns)
# a ledger row, in COLUMNS order: subscriber, paper_id, run_at, sent_at, message_id, cursor
Row = tuple[str, str, str, str, str, int | None]


def rows(
    subscriber: str,
    paper_ids: Sequence[str],
    *,
    message_id: str,
    run_at: datetime,
    sent_at: datetime,
    cursor: int | None = None,
) -> list[Row]:
    """One digest's ledger rows, one per paper (each once). `cursor` is the newest paper seq
    known when the digest was planned (their next window)."""
    run, sent = to_text(run_at), to_text(sent_at)
    return [(subscriber, pid, run, sent, message_id, cursor) for pid in dict.fromkeys(paper_ids)]


def insert_rows(conn: Connection, batch: Sequence[Row]) -> None:
    """Insert ledger rows in one statement execution (executemany); papers already recorded
    for a subscriber stay as they are."""
    if batch:
        conn.execute(
            insert_ignore(conn, deliveries), [dict(zip(COLUMNS, r, strict=True)) for r in batch]
        )


def sent_ids(conn: Connection, subscriber: str) -> set[str]:
    """Every paper id ever sent to `subscriber`."""
    return set(
        conn.execute(
            select(deliveries.c.paper_id).where(deliveries.c.subscriber == subscriber)
        ).scalars()
    )


def last_deliveries(conn: Connection) -> dict[str, tuple[str, int]]:
    """Per subscriber address: (time of the newest delivery, papers sent in all)."""
    rows = conn.execute(
        select(
            deliveries.c.subscriber,
            func.max(deliveries.c.sent_at),
            func.count(),
        ).group_by(deliveries.c.subscriber)
    ).all()
    return {r[0]: (r[1], int(r[2])) for r in rows}
