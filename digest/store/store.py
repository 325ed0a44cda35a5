"""Store: one engine (SQLite file or PostgreSQL), migrated on open; each method is one
transaction over the functions in ``papers``, ``ledger`` and ``runs``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from digest.errors import AlreadyRunningError, StoreError
from digest.models import FeedState, Paper, RunReport
from digest.store import ledger, runs, sqlite
from digest.store import papers as paper_rows
from digest.store.migrate import migrate, schema_version
from digest.store.schema import papers


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL (None for other databases and :memory:)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(str(parsed.database))
    return None


def store_exists(url: str) -> bool:
    """False only for an SQLite store whose file does not exist yet (no run so far)."""
    path = sqlite_file(url)
    return path is None or path.exists()


def one_line(exc: BaseException) -> str:
    """The database's own words for a failure: no SQL, parameters or help links."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).split("\n")[0]
    return text.split("(Background on this error")[0].strip() or type(inner).__name__


def safe_url(url: str) -> str:
    """A store URL fit for an error message: any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has nothing to hide
        return url


RUN_LOCK_KEY = 0x50415045525F4447  # "PAPER_DG": the PostgreSQL advisory lock of a run


class Store:
    """The state store behind an SQLAlchemy engine (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite_path = sqlite_file(url)
        self.where = str(self.sqlite_path) if self.sqlite_path else safe_url(url)
        if self.sqlite_path is not None:
            try:
                self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"store {self.where}: cannot create its folder {self.sqlite_path.parent} "
                    f"({exc.strerror or exc})"
                ) from None
        try:
            self.engine: Engine = create_engine(url)
        except (SQLAlchemyError, ImportError, ValueError) as exc:
            raise StoreError(f"store {self.where}: cannot open it ({one_line(exc)})") from None
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", sqlite.pragmas)
        try:
            migrate(self.engine, self.where)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise StoreError(
                f"store {self.where}: cannot open or migrate it ({one_line(exc)})"
            ) from None
        except BaseException:
            self.engine.dispose()
            raise

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        """One transaction; any database failure becomes one clear StoreError line."""
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.where}: cannot write ({one_line(exc)})") from None

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        """One read; any database failure becomes one clear StoreError line."""
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.where}: cannot read ({one_line(exc)})") from None

    @classmethod
    def sqlite(cls, path: Path) -> Store:
        """Open (creating if needed) the SQLite store at `path`."""
        return cls(f"sqlite:///{path}")

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def run_lock(self) -> Iterator[None]:
        """Hold the store's run lock for a real run, or raise AlreadyRunningError: an flock
        beside an SQLite file, a session advisory lock on PostgreSQL. Both vanish with the
        process, so a crashed run never blocks the next one."""
        if self.sqlite_path is not None:
            with sqlite.run_lock(self.sqlite_path):
                yield
            return
        if self.engine.dialect.name != "postgresql":
            yield
            return
        try:
            conn = self.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
            got = conn.execute(select(func.pg_try_advisory_lock(RUN_LOCK_KEY))).scalar()
        except SQLAlchemyError as exc:
            raise StoreError(
                f"store {self.where}: cannot take the run lock ({one_line(exc)})"
            ) from None
        try:
            if not got:
                raise AlreadyRunningError(
                    f"already running: another digest run holds the run lock of {self.where}; "
                    "this one sent nothing"
                )
            yield
        finally:
            try:
                if got:
                    conn.execute(select(func.pg_advisory_unlock(RUN_LOCK_KEY)))
            finally:
                conn.close()

    def schema_version(self) -> int:
        """The schema version recorded in the store (0 for an empty database)."""
        return schema_version(self.engine)

    # -- papers -------------------------------------------------------------------------------

    def ingest(self, batch: Iterable[Paper], *, source: str, now: datetime) -> int:
        """Store or enrich each paper and note that `source` listed it; return how many are new."""
        with self._write() as conn:
            return paper_rows.ingest(conn, batch, source=source, now=now)

    def paper(self, paper_id: str) -> Paper | None:
        """One stored paper by canonical id."""
        with self._read() as conn:
            row = conn.execute(select(papers).where(papers.c.id == paper_id)).first()
        return paper_rows.row_paper(row) if row else None

    def count_papers(self) -> int:
        """How many papers the store holds."""
        with self._read() as conn:
            return int(conn.execute(select(func.count()).select_from(papers)).scalar() or 0)

    def candidate_pools(
        self, subscribers: Sequence[str], *, now: datetime, lookback: timedelta
    ) -> tuple[dict[str, Paper], list[list[str]]]:
        """Every subscriber's candidates: (papers by id, candidate ids per subscriber)."""
        with self._read() as conn:
            return paper_rows.candidate_pools(conn, subscribers, now=now, lookback=lookback)

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
    ) -> None:
        """Mark papers as sent to `subscriber` in one transaction (call after SMTP accepted);
        `cursor` opens their next candidate window (default: the newest paper stored)."""
        with self._write() as conn:
            if cursor is None:
                cursor = paper_rows.newest_seq(conn)
            ledger.record_delivery(
                conn,
                subscriber,
                paper_ids,
                message_id=message_id,
                run_at=run_at,
                sent_at=sent_at,
                cursor=cursor,
            )

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
            runs.save_feed_state(conn, source, state, now=now)

    def recent_runs(self, limit: int = 10, *, real_only: bool = True) -> list[dict[str, Any]]:
        """The newest run reports (as recorded), newest first."""
        with self._read() as conn:
            return runs.recent_runs(conn, limit, real_only=real_only)

    def record_run(self, report: RunReport) -> None:
        """Keep the run report for `digest status`."""
        with self._write() as conn:
            runs.record_run(conn, report)


def dry_run_copy(url: str, folder: Path) -> Store:
    """A throwaway copy of the store at `url` inside `folder`, for dry-runs.

    The real store is only read (SQLite's backup API on a read-only connection), never
    created or migrated, so its bytes stay identical.
    """
    source = sqlite_file(url)
    if source is None:
        raise StoreError(
            f"store {safe_url(url)}: dry-run copies an SQLite store; point [store] path at a file "
            "or run without --dry-run"
        )
    target = folder / "dry-run.sqlite3"
    sqlite.copy_database(source, target)
    return Store.sqlite(target)
