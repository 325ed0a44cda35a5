"""What only SQLite needs: connection pragmas, the flock run lock, and the throwaway copy a
dry-run works on."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from digest.errors import AlreadyRunningError, StoreError


def identity(database: Path | None) -> tuple[int, int] | None:
    """The file's (device, inode), None when it does not exist: a deleted or replaced
    store has another."""
    try:
        found = os.stat(database) if database is not None else None
    except OSError:
        return None
    return (found.st_dev, found.st_ino) if found is not None else None


def pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Set on every new connection (an SQLAlchemy 'connect' listener). The driver's own
    transaction handling is turned off (it would commit before DDL); `begin` starts every
    transaction instead, so a migration's DDL is inside it (SQLAlchemy's documented recipe
    for pysqlite)."""
    dbapi_conn.isolation_level = None
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys = ON")
    # WAL with synchronous=NORMAL: a commit survives the process being killed (it is in the
    # OS's hands) without an fsync per commit; only a power cut can lose the last commits.
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


def begin(conn: Connection) -> None:
    """BEGIN each transaction (an SQLAlchemy 'begin' listener): IMMEDIATE when the connection
    asks for it (a migration), so concurrent opens of a new store take turns for the write
    lock from the start instead of failing halfway."""
    immediate = conn.get_execution_options().get("immediate", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@contextmanager
def run_lock(database: Path) -> Iterator[None]:
    """An flock on ``<store>.lock`` for the whole run, or AlreadyRunningError.

    The kernel drops it when the process dies, so a crashed run never blocks the next one.
    """
    lock_path = database.with_name(database.name + ".lock")
    try:
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise StoreError(
            f"store {database}: cannot create its lock file {lock_path} ({exc.strerror or exc})"
        ) from None
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise AlreadyRunningError(
                f"already running: another digest run holds {lock_path}; this one sent nothing"
            ) from None
        yield
    finally:
        handle.close()


def copy_database(source: Path, target: Path) -> None:
    """Copy the SQLite file `source` (if it exists) to `target`, only ever reading `source`.

    With no -wal file the database is fully checkpointed; immutable=1 then reads it without
    creating -wal/-shm files beside it. A leftover -wal (a killed run) must be read too, so
    then it is a plain read-only open.
    """
    if not source.exists():
        return
    wal = source.with_name(source.name + "-wal")
    mode = "mode=ro" if wal.exists() else "immutable=1"
    try:
        src = sqlite3.connect(f"{source.resolve().as_uri()}?{mode}", uri=True)
        dst = sqlite3.connect(target)
        try:
            src.backup(dst)
        finally:
            dst.close()
            src.close()
    except sqlite3.Error as exc:
        raise StoreError(f"store {source}: cannot read it for a dry-run: {exc}") from None
