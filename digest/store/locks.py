"""Session-level advisory locks on a PostgreSQL connection of their own: a lock is held as
long as the session that took it lives, and PostgreSQL frees it when the session ends (the
process killed, its host gone and noticed by TCP keepalives, or the session idle past
`idle_session_timeout` because the process stalled). No clock of ours decides ownership."""

from __future__ import annotations

import contextlib
import threading
from typing import Any

from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from digest.errors import StoreError

LEAD = -1  # the second key of a run's "fetching" lock; chunks are 0, 1, ...


def _int4(value: int) -> int:
    """A run id as the first key of a two-key advisory lock (a signed 32-bit integer)."""
    return ((value + 2**31) % 2**32) - 2**31


class SessionLocks:
    """Advisory locks (run id, chunk) held by one session, named `instance` in
    pg_stat_activity so `digest status` can say who holds what. Thread-safe: the heartbeat
    and the fences may come from worker threads."""

    def __init__(self, engine: Engine, where: str, *, instance: str, idle: float) -> None:
        self.where = where
        self._mutex = threading.Lock()
        try:
            conn = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        except SQLAlchemyError as exc:
            raise self._lost(exc) from None
        try:
            version = int(
                conn.execute(select(func.current_setting("server_version_num"))).scalar_one()
            )
            if version < 140000:
                raise StoreError(
                    f"store {where}: several instances need PostgreSQL 14 or newer "
                    "(idle_session_timeout), this server is older"
                )
            # a session that says nothing for `idle` seconds is ended by the server, and its
            # locks with it: the heartbeat speaks far more often while this process runs
            conn.execute(
                select(func.set_config("idle_session_timeout", f"{int(idle * 1000)}", False))
            )
            conn.execute(select(func.set_config("application_name", instance[:63], False)))
        except BaseException as exc:
            with contextlib.suppress(SQLAlchemyError):
                conn.invalidate()
                conn.close()
            if isinstance(exc, SQLAlchemyError):
                raise self._lost(exc) from None
            raise
        self._conn: Connection | None = conn

    def _lost(self, exc: BaseException) -> StoreError:
        inner = getattr(exc, "orig", None) or exc
        first = str(inner).split("\n")[0].split("(Background on this error")[0].strip()
        return StoreError(
            f"store {self.where}: lost the session that holds this run's locks ({first})"
        )

    def _call(self, statement: Any) -> Any:
        with self._mutex:
            if self._conn is None:
                raise StoreError(
                    f"store {self.where}: the session holding this run's locks is closed"
                )
            try:
                return self._conn.execute(statement).scalar()
            except SQLAlchemyError as exc:
                raise self._lost(exc) from None

    def try_lock(self, run_id: int, part: int) -> bool:
        """Take the lock on (run, part) if nobody holds it; never waits."""
        return bool(self._call(select(func.pg_try_advisory_lock(_int4(run_id), part))))

    def unlock(self, run_id: int, part: int) -> None:
        """Give the lock on (run, part) back."""
        self._call(select(func.pg_advisory_unlock(_int4(run_id), part)))

    def alive(self) -> None:
        """The session still lives, so every lock it took is still held (StoreError if not).
        Also the heartbeat: it keeps the session from counting as idle."""
        self._call(text("SELECT 1"))

    def close(self) -> None:
        """End the session: PostgreSQL frees every lock it held."""
        with self._mutex:
            conn, self._conn = self._conn, None
        if conn is not None:
            # invalidate: the DBAPI connection is closed, not pooled, so the session (with
            # its locks and its idle limit) ends here
            with contextlib.suppress(SQLAlchemyError):  # gone already, and its locks with it
                conn.invalidate()
                conn.close()


def holders(conn: Connection) -> list[tuple[int, int, str]]:
    """Every advisory lock of the two-key kind held now: (run id, part, instance)."""
    rows = conn.execute(
        text(
            "SELECT l.classid::int, l.objid::int, a.application_name FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted"
        )
    ).all()
    return [(int(run), int(part), str(who)) for run, part, who in rows]
