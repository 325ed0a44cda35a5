"""Store: one engine (SQLite file or PostgreSQL), migrated on open; each method is one
transaction over the functions in ``papers``, ``ledger`` and ``runs``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Connection,
    Engine,
    RootTransaction,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from digest.errors import StoreError
from digest.models import FeedState, Paper, RunReport, Sent, StoreTimeouts, Windows
from digest.store import ledger, links, runs, sqlite
from digest.store import papers as paper_rows
from digest.store.connect import connect_args, one_line, safe_url, sqlite_file
from digest.store.locks import SessionLocks
from digest.store.methods import Bounces, GroupRuns, PaperFeedback, SubscriberLinks
from digest.store.migrate import migrate, migrate_on, schema_version
from digest.store.schema import meta, papers

INGEST_LOCK_KEY = 0x50445F494E474553  # "PD_INGES": ingests take turns, so seq = max + 1 holds


class Store(GroupRuns, SubscriberLinks, PaperFeedback, Bounces):
    """The state store behind an SQLAlchemy engine (SQLite file or PostgreSQL)."""

    def __init__(
        self,
        url: str,
        *,
        rollback: bool = False,
        timeouts: StoreTimeouts | None = None,
        create: bool = True,
    ) -> None:
        """Open (creating and migrating as needed) the store at `url`. With `rollback` the
        whole session is one transaction that `close` rolls back (a dry-run on PostgreSQL:
        each write is a savepoint inside it, and the database ends as it began). Without
        `create` a missing SQLite file is a StoreError: a service that saw it must not
        start an empty one in its place."""
        self.url = url
        self.sqlite_path = sqlite_file(url)
        self.where = str(self.sqlite_path) if self.sqlite_path else safe_url(url)
        self.statements = 0  # SQL statements sent, for the run report and bench/instances.py
        self._held: Connection | None = None
        self._outer: RootTransaction | None = None
        self._file: tuple[int, int] | None = None
        if self.sqlite_path is not None and not create and not self.sqlite_path.exists():
            raise StoreError(
                f"store {self.where}: the file is gone (it was there when this process "
                "started); restore it, or restart to begin a new, empty store"
            )
        if self.sqlite_path is not None:
            try:
                self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"store {self.where}: cannot create its folder {self.sqlite_path.parent} "
                    f"({exc.strerror or exc})"
                ) from None
        try:
            dialect = make_url(url).get_backend_name()
            args = connect_args(dialect, timeouts or StoreTimeouts(), rollback=rollback)
            self.engine: Engine = create_engine(url, connect_args=args)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"store {self.where}: cannot open it ({one_line(exc)})") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", sqlite.pragmas)
            event.listen(self.engine, "begin", sqlite.begin)
        self.timeouts = timeouts or StoreTimeouts()
        event.listen(self.engine, "before_cursor_execute", self._count)
        try:
            if rollback:
                self._held = self.engine.connect()
                self._outer = self._held.begin()
                migrate_on(self._held, self.where)
            else:
                migrate(self.engine, self.where)
        except SQLAlchemyError as exc:
            self.close()
            raise StoreError(
                f"store {self.where}: cannot open or migrate it ({one_line(exc)})"
            ) from None
        except BaseException:
            self.close()
            raise
        self._file = sqlite.identity(self.sqlite_path) if self.sqlite_path else None

    def _still_there(self) -> None:
        """StoreError when the SQLite file this store opened was deleted or replaced: its
        open connections would go on writing to the unlinked file, and a write that no run
        will ever read must not be reported as done."""
        if self._file is not None and sqlite.identity(self.sqlite_path) != self._file:
            raise StoreError(
                f"store {self.where}: the file was deleted or replaced while in use; "
                "nothing was written"
            )

    @property
    def remote(self) -> bool:
        """A database server (commits wait on the network and its disk), not a local file."""
        return self.sqlite_path is None and self.engine.dialect.name != "sqlite"

    def _count(self, *_: object) -> None:
        self.statements += 1

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One transaction (a savepoint in rollback mode); any database failure becomes one
        clear StoreError line."""
        self._still_there()
        try:
            if self._held is not None:
                with self._held.begin_nested():
                    yield self._held
            else:
                # SQLite: the write lock from the start (BEGIN IMMEDIATE), so a transaction
                # that reads before it writes waits its turn instead of failing at once
                immediate = self.engine.connect().execution_options(immediate=True)
                with immediate as conn, conn.begin():
                    yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.where}: cannot write ({one_line(exc)})") from None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """One read; any database failure becomes one clear StoreError line."""
        self._still_there()
        try:
            if self._held is not None:
                yield self._held
            else:
                with self.engine.connect() as conn:
                    yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.where}: cannot read ({one_line(exc)})") from None

    def _serialise(self, conn: Connection, key: int) -> None:
        """Take turns with other instances for the rest of this transaction (PostgreSQL;
        SQLite writers take turns anyway). Not in rollback mode: a dry-run must not hold
        real runs up for its whole length."""
        if conn.dialect.name == "postgresql" and self._held is None:
            conn.execute(select(func.pg_advisory_xact_lock(key)))

    @classmethod
    def sqlite(cls, path: Path) -> Store:
        """Open (creating if needed) the SQLite store at `path`."""
        return cls(f"sqlite:///{path}")

    def close(self) -> None:
        """Release every pooled connection (rolling back everything in rollback mode)."""
        try:
            if self._outer is not None and self._outer.is_active:
                self._outer.rollback()
            if self._held is not None:
                self._held.close()
        except SQLAlchemyError:
            pass  # the connection is gone; so is its transaction
        finally:
            self._held = self._outer = None
            self.engine.dispose()

    @contextmanager
    def run_lock(self) -> Iterator[None]:
        """Hold the store's run lock for a real run, or raise AlreadyRunningError: an flock
        beside an SQLite file, gone with the process, so a crashed run never blocks the next
        one. Other databases have none: several instances share a run's chunks through locks
        their sessions hold (see ``session_locks``)."""
        if self.sqlite_path is None:
            yield
            return
        with sqlite.run_lock(self.sqlite_path):
            yield

    def session_locks(self, *, instance: str, idle: float) -> SessionLocks | None:
        """A session of its own that holds this instance's advisory locks (PostgreSQL; None
        for SQLite, where the run lock already makes one instance the only one). Not in
        rollback mode: a dry-run takes nothing from real runs."""
        if self.engine.dialect.name != "postgresql" or self._held is not None:
            return None
        return SessionLocks(self.engine, self.where, instance=instance, idle=idle)

    def schema_version(self) -> int:
        """The schema version recorded in the store (0 for an empty database)."""
        return schema_version(self.engine)

    # -- papers -------------------------------------------------------------------------------

    def ingest(self, batch: Iterable[Paper], *, source: str, now: datetime) -> int:
        """Store or enrich each paper and note that `source` listed it; return how many are new."""
        with self._write() as conn:
            self._serialise(conn, INGEST_LOCK_KEY)
            return paper_rows.ingest(conn, batch, source=source, now=now)

    def paper(self, paper_id: str) -> Paper | None:
        """One stored paper by canonical id."""
        with self._read() as conn:
            row = conn.execute(select(papers).where(papers.c.id == paper_id)).first()
        return paper_rows.row_paper(row) if row else None

    def keep_seeds(self, batch: Iterable[Paper], *, now: datetime) -> int:
        """Store seed papers (`like`) as examples, never digest candidates; how many new."""
        with self._write() as conn:
            return paper_rows.keep_seeds(conn, batch, now=now)

    def writable(self) -> None:
        """Write one row and roll it back (`digest check`, in rollback mode): StoreError
        when the database or its file only reads."""
        with self._write() as conn:
            conn.execute(insert(meta).values(key="digest-check", value="writable"))
            conn.execute(delete(meta).where(meta.c.key == "digest-check"))

    def count_papers(self) -> int:
        """How many papers the store holds."""
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(papers)).scalar() or 0)

    def candidate_pools(
        self,
        subscribers: Sequence[str],
        *,
        now: datetime,
        lookback: timedelta,
        upto: int | None = None,
    ) -> tuple[dict[str, Paper], list[list[str]]]:
        """Every subscriber's candidates: (papers by id, candidate ids per subscriber),
        among the papers ingested up to seq `upto` (default: all)."""
        found = self.candidate_windows(subscribers, now=now, lookback=lookback, upto=upto)
        return found.papers, found.pools(len(subscribers))

    def candidate_windows(
        self,
        subscribers: Sequence[str],
        *,
        now: datetime,
        lookback: timedelta,
        upto: int | None = None,
    ) -> Windows:
        """Every subscriber's candidates, grouped by window (see papers.candidate_windows)."""
        with self._read() as conn:
            return paper_rows.candidate_windows(
                conn, subscribers, now=now, lookback=lookback, upto=upto
            )

    def embeddings(
        self, keys: Sequence[str], *, model: str, kind: str = "paper"
    ) -> dict[str, bytes]:
        """Cached embedding bytes (float32) of the papers (or keywords, with kind="keyword")
        that have one for `model`."""
        with self._read() as conn:
            return paper_rows.cached_embeddings(conn, keys, model, kind=kind)

    def save_embeddings(
        self, vectors: dict[str, bytes], *, model: str, kind: str = "paper"
    ) -> None:
        """Remember embeddings so each paper (or keyword) is embedded once."""
        if vectors:
            with self._write() as conn:
                paper_rows.save_embeddings(conn, vectors, model, kind=kind)

    # -- deliveries ---------------------------------------------------------------------------

    def record_delivery(
        self,
        subscriber: str,
        paper_ids: Sequence[str],
        *,
        message_id: str,
        run_at: datetime,
        sent_at: datetime,
        cursor: int | None = None,
        html: str | None = None,
    ) -> None:
        """Mark papers as sent to `subscriber` in one transaction (call after SMTP accepted);
        `cursor` opens their next candidate window (default: the newest paper stored); `html` is
        kept for "View in browser"."""
        self.record_deliveries(
            [Sent(subscriber, tuple(paper_ids), message_id, run_at, sent_at, cursor, html)]
        )

    def record_deliveries(self, batch: Sequence[Sent]) -> None:
        """`record_delivery` for several accepted messages in one transaction (a group
        commit: one commit, one multi-row insert), all or none."""
        with self._write() as conn:
            newest: int | None = None
            rows: list[ledger.Row] = []
            for sent in batch:
                if sent.html is not None:
                    links.save_page(
                        conn, sent.message_id, sent.subscriber, sent.html, sent_at=sent.sent_at
                    )
                cursor = sent.cursor
                if cursor is None:
                    newest = paper_rows.newest_seq(conn) if newest is None else newest
                    cursor = newest
                rows.extend(
                    ledger.rows(
                        sent.subscriber,
                        sent.paper_ids,
                        message_id=sent.message_id,
                        run_at=sent.run_at,
                        sent_at=sent.sent_at,
                        cursor=cursor,
                    )
                )
            ledger.insert_rows(conn, rows)

    def newest_seq(self) -> int:
        """The ingest sequence number of the newest paper stored (0 for none)."""
        with self._read() as conn:
            return paper_rows.newest_seq(conn)

    def sent_ids(self, subscriber: str) -> set[str]:
        """Every paper id ever sent to `subscriber`."""
        with self._read() as conn:
            return ledger.sent_ids(conn, subscriber)

    def last_deliveries(self) -> dict[str, tuple[str, int]]:
        """Per subscriber address: (time of the newest delivery, papers sent in all)."""
        with self._read() as conn:
            return ledger.last_deliveries(conn)

    # -- feed state and runs ------------------------------------------------------------------

    def feed_state(self, source: str) -> FeedState:
        """What was remembered of `source` after its last successful fetch."""
        with self._read() as conn:
            return runs.load_feed_state(conn, source)

    def save_feed_state(self, source: str, state: FeedState, *, now: datetime) -> None:
        """Remember validators and the newest batch time of `source`."""
        with self._write() as conn:
            self._serialise(conn, INGEST_LOCK_KEY)
            runs.save_feed_state(conn, source, state, now=now)

    def recent_runs(self, limit: int = 10, *, real_only: bool = True) -> list[dict[str, Any]]:
        """The newest run reports (as recorded), newest first."""
        with self._read() as conn:
            return runs.recent_runs(conn, limit, real_only=real_only)

    def record_run(self, report: RunReport) -> None:
        """Keep the run report for `digest status`."""
        with self._write() as conn:
            runs.record_run(conn, report)


def dry_run_copy(url: str, folder: Path, *, timeouts: StoreTimeouts | None = None) -> Store:
    """A store for a dry-run that leaves the one at `url` as it was.

    SQLite: a throwaway copy inside `folder` (the real file is only read, through SQLite's
    backup API on a read-only connection, never created or migrated, so its bytes stay
    identical). Other databases: the store itself in rollback mode, the whole pass one
    transaction that is rolled back when it is closed.
    """
    source = sqlite_file(url)
    if source is None:
        if make_url(url).get_backend_name() == "sqlite":
            raise StoreError("store :memory:: a dry-run needs a store that outlives it")
        return Store(url, rollback=True, timeouts=timeouts)
    target = folder / "dry-run.sqlite3"
    sqlite.copy_database(source, target)
    return Store(f"sqlite:///{target}", timeouts=timeouts)
