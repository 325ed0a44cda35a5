"""All SQL lives here: papers, sightings, feed state, deliveries and runs, with migrations."""

from __future__ import annotations

import fcntl
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from digest.errors import AlreadyRunningError, StoreError
from digest.merge import merge
from digest.models import Paper, RunReport
from digest.timeutil import from_text, to_text

SCHEMA_VERSION = 2

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
papers = Table(
    "papers",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("version", Integer),
    Column("title", Text, nullable=False),
    Column("link", Text, nullable=False),
    Column("authors", Text, nullable=False),
    Column("abstract", Text, nullable=False),
    Column("categories", Text, nullable=False),
    Column("announce_type", String(32)),
    Column("doi", Text),
    Column("journal_ref", Text),
    Column("published", String(32)),
    Column("upvotes", Integer),
    Column("comments", Integer),
    Column("github", Text),
    Column("project_page", Text),
    Column("ai_summary", Text),
    Column("source", Text, nullable=False),
    Column("first_seen", String(32), nullable=False, index=True),
    Column("updated", String(32), nullable=False),
)
sightings = Table(
    "sightings",
    metadata,
    Column("paper_id", String(255), primary_key=True),
    Column("source", String(255), primary_key=True),
    Column("announce_type", String(32)),
    Column("version", Integer),
    Column("seen_at", String(32), nullable=False),
)
feed_state = Table(
    "feed_state",
    metadata,
    Column("source", String(255), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("batch", String(32)),
    Column("checked", String(32), nullable=False),
)
deliveries = Table(
    "deliveries",
    metadata,
    Column("subscriber", String(320), primary_key=True),
    Column("paper_id", String(255), primary_key=True),
    Column("run_at", String(32), nullable=False),
    Column("sent_at", String(32), nullable=False),
    Column("message_id", Text, nullable=False),
)
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started", String(32), nullable=False),
    Column("finished", String(32), nullable=False),
    Column("dry_run", Integer, nullable=False),
    Column("report", Text, nullable=False),
)


embeddings = Table(
    "embeddings",
    metadata,
    Column("paper_id", String(255), primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
)


def _v1(conn: Connection) -> None:
    metadata.create_all(conn, tables=[papers, sightings, feed_state, deliveries, runs])


def _v2(conn: Connection) -> None:
    metadata.create_all(conn, tables=[embeddings])


MIGRATIONS: dict[int, Callable[[Connection], None]] = {1: _v1, 2: _v2}


@dataclass(frozen=True)
class FeedState:
    """What the store remembers of a source between runs (conditional GET, staleness)."""

    etag: str | None = None
    last_modified: str | None = None
    batch: datetime | None = None


def _paper_row(p: Paper) -> dict[str, Any]:
    return {
        "id": p.id,
        "version": p.version,
        "title": p.title,
        "link": p.link,
        "authors": json.dumps(list(p.authors), ensure_ascii=False),
        "abstract": p.abstract,
        "categories": json.dumps(list(p.categories)),
        "announce_type": p.announce_type,
        "doi": p.doi,
        "journal_ref": p.journal_ref,
        "published": to_text(p.published) if p.published else None,
        "upvotes": p.upvotes,
        "comments": p.comments,
        "github": p.github,
        "project_page": p.project_page,
        "ai_summary": p.ai_summary,
        "source": p.source,
    }


def _row_paper(row: Any) -> Paper:
    return Paper(
        id=row.id,
        version=row.version,
        title=row.title,
        link=row.link,
        authors=tuple(json.loads(row.authors)),
        abstract=row.abstract,
        categories=tuple(json.loads(row.categories)),
        announce_type=row.announce_type,
        doi=row.doi,
        journal_ref=row.journal_ref,
        published=from_text(row.published),
        upvotes=row.upvotes,
        comments=row.comments,
        github=row.github,
        project_page=row.project_page,
        ai_summary=row.ai_summary,
        source=row.source,
    )


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA busy_timeout = 10000")
    cur.execute("PRAGMA foreign_keys = ON")
    # WAL with synchronous=NORMAL: a commit survives the process being killed (it is in the
    # OS's hands) without an fsync per commit; only a power cut can lose the last commits.
    cur.execute("PRAGMA journal_mode = WAL")
    cur.execute("PRAGMA synchronous = NORMAL")
    cur.close()


class Store:
    """The state store behind an SQLAlchemy engine (SQLite file or PostgreSQL)."""

    def __init__(self, url: str) -> None:
        self.url = url
        parsed = make_url(url)
        self.sqlite_path: Path | None = None
        if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
            self.sqlite_path = Path(str(parsed.database))
            self.sqlite_path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.engine: Engine = create_engine(url, future=True)
        except (SQLAlchemyError, ImportError) as exc:
            raise StoreError(f"store {url!r}: cannot open: {exc}") from None
        if parsed.get_backend_name() == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.migrate()

    @classmethod
    def sqlite(cls, path: Path) -> Store:
        """Open (creating if needed) the SQLite store at `path`."""
        return cls(f"sqlite:///{path}")

    def close(self) -> None:
        """Release every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def run_lock(self) -> Iterator[None]:
        """Hold the store's run lock for a real run, or raise AlreadyRunningError.

        For SQLite it is an flock on ``<store>.lock``: the kernel drops it when the process
        dies, so a crashed run never blocks the next one.
        """
        if self.sqlite_path is None:
            yield  # PostgreSQL: not locked yet (see README)
            return
        lock_path = self.sqlite_path.with_name(self.sqlite_path.name + ".lock")
        handle = open(lock_path, "a+")  # noqa: SIM115 - held for the whole run
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

    # -- schema -------------------------------------------------------------------------------

    def schema_version(self) -> int:
        """The schema version recorded in the store (0 for an empty database)."""
        with self.engine.connect() as conn:
            if not self.engine.dialect.has_table(conn, "meta"):
                return 0
            value = conn.execute(
                select(meta.c.value).where(meta.c.key == "schema_version")
            ).scalar()
            return int(value) if value is not None else 0

    def migrate(self) -> None:
        """Apply every migration newer than the store's schema, each in its own transaction."""
        try:
            with self.engine.begin() as conn:
                metadata.create_all(conn, tables=[meta])
            current = self.schema_version()
            if current > SCHEMA_VERSION:
                raise StoreError(
                    f"store {self.url!r}: schema version {current} is newer than this "
                    f"Paper Digest understands ({SCHEMA_VERSION}); upgrade the package"
                )
            for version in range(current + 1, SCHEMA_VERSION + 1):
                with self.engine.begin() as conn:
                    MIGRATIONS[version](conn)
                    if version == 1:
                        conn.execute(insert(meta).values(key="schema_version", value="1"))
                    else:
                        conn.execute(
                            update(meta)
                            .where(meta.c.key == "schema_version")
                            .values(value=str(version))
                        )
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.url!r}: cannot open or migrate: {exc}") from None

    # -- papers -------------------------------------------------------------------------------

    def ingest(self, batch: Iterable[Paper], *, source: str, now: datetime) -> int:
        """Store or enrich each paper and note that `source` listed it; return how many are new."""
        stamp = to_text(now)
        new = 0
        with self.engine.begin() as conn:
            for paper in batch:
                row = conn.execute(select(papers).where(papers.c.id == paper.id)).first()
                if row is None:
                    conn.execute(
                        insert(papers).values(**_paper_row(paper), first_seen=stamp, updated=stamp)
                    )
                    new += 1
                else:
                    old = _row_paper(row)
                    merged = merge(old, paper)
                    if merged != old:
                        conn.execute(
                            update(papers)
                            .where(papers.c.id == paper.id)
                            .values(**_paper_row(merged), updated=stamp)
                        )
                seen = conn.execute(
                    select(sightings.c.paper_id).where(
                        sightings.c.paper_id == paper.id, sightings.c.source == source
                    )
                ).first()
                if seen is None:
                    conn.execute(
                        insert(sightings).values(
                            paper_id=paper.id,
                            source=source,
                            announce_type=paper.announce_type,
                            version=paper.version,
                            seen_at=stamp,
                        )
                    )
        return new

    def paper(self, paper_id: str) -> Paper | None:
        """One stored paper by canonical id."""
        with self.engine.connect() as conn:
            row = conn.execute(select(papers).where(papers.c.id == paper_id)).first()
        return _row_paper(row) if row else None

    def count_papers(self) -> int:
        """How many papers the store holds."""
        with self.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(papers)).scalar() or 0)

    # -- embeddings (the [semantic] extra) --------------------------------------------------

    def embeddings(self, paper_ids: Sequence[str], *, model: str) -> dict[str, bytes]:
        """Cached embedding bytes (float32) of those papers that have one for `model`."""
        out: dict[str, bytes] = {}
        ids = list(dict.fromkeys(paper_ids))
        with self.engine.connect() as conn:
            for start in range(0, len(ids), 500):
                rows = conn.execute(
                    select(embeddings.c.paper_id, embeddings.c.vector).where(
                        embeddings.c.model == model,
                        embeddings.c.paper_id.in_(ids[start : start + 500]),
                    )
                )
                out.update({r.paper_id: bytes(r.vector) for r in rows})
        return out

    def save_embeddings(self, vectors: dict[str, bytes], *, model: str) -> None:
        """Remember embeddings so each paper is embedded once."""
        if not vectors:
            return
        with self.engine.begin() as conn:
            have = set(
                conn.execute(
                    select(embeddings.c.paper_id).where(
                        embeddings.c.model == model, embeddings.c.paper_id.in_(list(vectors))
                    )
                ).scalars()
            )
            rows = [
                {"paper_id": pid, "model": model, "vector": vec}
                for pid, vec in vectors.items()
                if pid not in have
            ]
            if rows:
                conn.execute(insert(embeddings), rows)

    def candidate_pools(
        self, subscribers: Sequence[str], *, now: datetime, lookback: timedelta
    ) -> tuple[dict[str, Paper], list[list[str]]]:
        """Every subscriber's candidates: (papers by id, candidate ids per subscriber).

        A subscriber's candidates are the papers first seen after their last digest (and
        within `lookback`) that they were never sent. Subscribers that share a window (all
        those served by the same last run) share one query, and each paper is loaded once.
        """
        floor = to_text(now - lookback)
        stamp = to_text(now)
        with self.engine.connect() as conn:
            cursors = dict(
                conn.execute(
                    select(deliveries.c.subscriber, func.max(deliveries.c.run_at)).group_by(
                        deliveries.c.subscriber
                    )
                ).all()
            )
            groups: dict[tuple[str, bool], list[int]] = {}
            for i, sub in enumerate(subscribers):
                cursor = cursors.get(sub)
                key = (cursor, True) if cursor and cursor > floor else (floor, False)
                groups.setdefault(key, []).append(i)
            papers_by_id: dict[str, Paper] = {}
            pools: list[list[str]] = [[] for _ in subscribers]
            for (bound, exclusive), members in groups.items():
                since = papers.c.first_seen > bound if exclusive else papers.c.first_seen >= bound
                rows = conn.execute(
                    select(papers)
                    .where(since, papers.c.first_seen <= stamp)
                    .order_by(papers.c.first_seen, papers.c.id)
                ).all()
                ids = []
                for row in rows:
                    if row.id not in papers_by_id:
                        papers_by_id[row.id] = _row_paper(row)
                    ids.append(row.id)
                names = [subscribers[i] for i in members]
                sent: dict[str, set[str]] = {}
                for start in range(0, len(ids), 500):  # guards against clocks run backwards
                    for who, pid in conn.execute(
                        select(deliveries.c.subscriber, deliveries.c.paper_id).where(
                            deliveries.c.paper_id.in_(ids[start : start + 500]),
                            deliveries.c.subscriber.in_(names),
                        )
                    ):
                        sent.setdefault(who, set()).add(pid)
                for i in members:
                    already = sent.get(subscribers[i])
                    pools[i] = [pid for pid in ids if not already or pid not in already]
        return papers_by_id, pools

    # -- deliveries ---------------------------------------------------------------------------

    def record_delivery(
        self,
        subscriber: str,
        paper_ids: Sequence[str],
        *,
        message_id: str,
        run_at: datetime,
        sent_at: datetime,
    ) -> None:
        """Mark papers as sent to `subscriber` in one transaction (call after SMTP accepted).
        Papers already recorded for them are left as they are."""
        run, sent = to_text(run_at), to_text(sent_at)
        rows = [
            {
                "subscriber": subscriber,
                "paper_id": pid,
                "run_at": run,
                "sent_at": sent,
                "message_id": message_id,
            }
            for pid in dict.fromkeys(paper_ids)
        ]
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(self._insert_ignore(deliveries), rows)

    def _insert_ignore(self, table: Table) -> Any:
        """INSERT ... ON CONFLICT DO NOTHING in this engine's dialect."""
        name = self.engine.dialect.name
        if name == "sqlite":
            return sqlite_insert(table).on_conflict_do_nothing()
        if name == "postgresql":
            return postgresql_insert(table).on_conflict_do_nothing()
        raise StoreError(f"store {self.url!r}: unsupported database {name!r}")

    def sent_ids(self, subscriber: str) -> set[str]:
        """Every paper id ever sent to `subscriber`."""
        with self.engine.connect() as conn:
            return set(
                conn.execute(
                    select(deliveries.c.paper_id).where(deliveries.c.subscriber == subscriber)
                ).scalars()
            )

    # -- feed state and runs ------------------------------------------------------------------

    def feed_state(self, source: str) -> FeedState:
        """What was remembered of `source` after its last successful fetch."""
        with self.engine.connect() as conn:
            row = conn.execute(select(feed_state).where(feed_state.c.source == source)).first()
        if row is None:
            return FeedState()
        return FeedState(etag=row.etag, last_modified=row.last_modified, batch=from_text(row.batch))

    def save_feed_state(self, source: str, state: FeedState, *, now: datetime) -> None:
        """Remember validators and the newest batch time of `source`."""
        values = {
            "etag": state.etag,
            "last_modified": state.last_modified,
            "batch": to_text(state.batch) if state.batch else None,
            "checked": to_text(now),
        }
        with self.engine.begin() as conn:
            done = conn.execute(
                update(feed_state).where(feed_state.c.source == source).values(**values)
            )
            if done.rowcount == 0:
                conn.execute(insert(feed_state).values(source=source, **values))

    def recent_runs(self, limit: int = 10, *, real_only: bool = True) -> list[dict[str, Any]]:
        """The newest run reports (as recorded), newest first."""
        query = select(runs.c.report).order_by(runs.c.id.desc()).limit(limit)
        if real_only:
            query = query.where(runs.c.dry_run == 0)
        with self.engine.connect() as conn:
            return [json.loads(r) for r in conn.execute(query).scalars()]

    def last_deliveries(self) -> dict[str, tuple[str, int]]:
        """Per subscriber address: (time of the newest delivery, papers sent in all)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(
                    deliveries.c.subscriber,
                    func.max(deliveries.c.sent_at),
                    func.count(),
                ).group_by(deliveries.c.subscriber)
            ).all()
        return {r[0]: (r[1], int(r[2])) for r in rows}

    def record_run(self, report: RunReport) -> None:
        """Keep the run report for `digest status`."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(runs).values(
                    started=to_text(report.started),
                    finished=to_text(report.finished),
                    dry_run=int(report.dry_run),
                    report=json.dumps(asdict(report), default=str),
                )
            )


def dry_run_copy(url: str, folder: Path) -> Store:
    """A throwaway copy of the store at `url` inside `folder`, for dry-runs.

    The real store is only read (SQLite's backup API on a read-only connection), never
    created or migrated, so its bytes stay identical.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        raise StoreError(
            f"store {url!r}: dry-run copies an SQLite store; point [store] path at a file "
            "or run without --dry-run"
        )
    source = Path(str(parsed.database))
    target = folder / "dry-run.sqlite3"
    if source.exists():
        # With no -wal file the database is fully checkpointed; immutable=1 then reads it
        # without creating -wal/-shm files beside it. A leftover -wal (a killed run) must be
        # read too, so then it is a plain read-only open.
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
    return Store.sqlite(target)
