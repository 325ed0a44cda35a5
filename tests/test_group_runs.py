"""A schedule group's runs in the store, on SQLite and PostgreSQL: a run is opened once,
taken up while unfinished, done once per scheduled moment, finished when every chunk is;
and the PostgreSQL session locks that say who works on which part."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from digest.errors import StoreError
from digest.models import Paper
from digest.store import Store
from digest.store.locks import SessionLocks
from tests.cli_helpers import wait_until

T0 = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)
SUBS = [f"s{i}@example.org" for i in range(10)]


def _open(store: Store, instance: str, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "group_key": "g",
        "label": "07:30 UTC mon-fri",
        "fire": None,
        "run_at": T0,
        "instance": instance,
        "stale": 3600.0,
    }
    return store.open_group_run(**{**args, **kw})


def test_a_run_is_opened_once_and_taken_up_while_unfinished(store_url: str) -> None:
    """The first open makes a fetching run; the next open (another instance, or a restart)
    takes up that same run with its planned moment, whatever its own `now`."""
    store = Store(store_url)
    first = _open(store, "a")
    assert first.role == "new" and first.run.state == "fetching"
    later = _open(store, "b", run_at=datetime(2025, 9, 17, 0, 0, 5, tzinfo=UTC))
    assert later.role == "unfinished" and later.run.id == first.run.id
    assert later.run.run_at == T0 and later.run.leader == "a"
    store.close()


def test_a_run_finishes_when_every_chunk_is_done_and_a_fired_send_is_not_repeated(
    store_url: str,
) -> None:
    """Chunks are recorded once each; the run finishes only after the last one; a scheduled
    moment that was served is 'done' for every later open."""
    store = Store(store_url)
    run = _open(store, "a", fire=T0).run
    store.begin_sending(run.id, cursor=5, chunk_size=4, chunks=3)
    assert store.group_run(run.id).state == "sending"
    for chunk in (0, 2):
        store.finish_chunk(run.id, chunk, instance="a", subscribers=4)
    store.finish_chunk(run.id, 2, instance="b", subscribers=4)  # a second record is ignored
    assert store.chunk_done(run.id, 0) and not store.chunk_done(run.id, 1)
    assert store.finish_run(run.id) is False
    store.finish_chunk(run.id, 1, instance="b", subscribers=2)
    assert store.finish_run(run.id) is True
    assert _open(store, "c", fire=T0).role == "done"
    assert _open(store, "c", fire=None).role == "new"
    (latest, finished) = store.recent_group_runs(2)
    assert finished["done"] == {"a": 8, "b": 2} and finished["chunks_done"] == 3
    assert latest["state"] == "fetching"
    store.close()


def test_an_old_unfinished_run_is_abandoned_not_taken_up(store_url: str) -> None:
    """A run that began longer ago than `stale` (by the database's clock) is abandoned, and
    a new run is opened."""
    store = Store(store_url)
    old = _open(store, "a").run
    again = _open(store, "b", stale=-1.0)  # "older than a second from now": any run
    assert again.role == "new" and again.run.id != old.id
    assert store.group_run(old.id).state == "abandoned"
    store.close()


def test_candidates_stop_at_the_run_cursor(store_url: str) -> None:
    """Papers ingested after a shared run's cursor are left for the next run, so every
    instance of the run ranks the same papers."""
    store = Store(store_url)
    store.ingest([Paper(id="arxiv:1", title="a", abstract="x")], source="s", now=T0)
    cursor = store.newest_seq()
    store.ingest([Paper(id="arxiv:2", title="b", abstract="x")], source="s", now=T0)
    from datetime import timedelta

    _, pools = store.candidate_pools(SUBS[:1], now=T0, lookback=timedelta(days=7), upto=cursor)
    assert pools == [["arxiv:1"]]
    store.close()


@pytest.mark.postgres
def test_session_locks_are_held_by_one_session_and_freed_with_it(pg_url: str) -> None:
    """Only one session holds a part; closing it frees the part at once, and status sees
    the holder by its instance name."""
    store = Store(pg_url)
    a = SessionLocks(store.engine, "pg", instance="host-a:1", idle=30)
    b = SessionLocks(store.engine, "pg", instance="host-b:2", idle=30)
    run = _open(store, "host-a:1").run
    assert a.try_lock(run.id, 0) and a.try_lock(run.id, -1)
    assert not b.try_lock(run.id, 0)
    held = store.recent_group_runs(1)[0]["held"]
    assert held == [(-1, "host-a:1"), (0, "host-a:1")]
    a.close()
    assert b.try_lock(run.id, 0)
    b.close()
    store.close()


@pytest.mark.postgres
def test_a_silent_session_loses_its_locks_to_the_server_and_learns_it(pg_url: str) -> None:
    """A session that says nothing for its idle limit (a stalled process) is ended by the
    server: another session can take its part, and the stalled one's next check fails."""
    store = Store(pg_url)
    stalled = SessionLocks(store.engine, "pg", instance="stalled", idle=1.0)
    other = SessionLocks(store.engine, "pg", instance="other", idle=30)
    assert stalled.try_lock(7, 0)
    taken = wait_until(lambda: other.try_lock(7, 0), timeout=10)
    assert taken, "the silent session kept its lock"
    with pytest.raises(StoreError, match="lost the session"):
        stalled.alive()
    other.close()
    stalled.close()
    store.close()


def test_instances_opening_at_the_same_moment_get_one_run(store_url: str) -> None:
    """Four threads, each with its own store connection, open the group's run at once:
    one opens it, the others take it up."""
    Store(store_url).close()
    roles: list[tuple[str, int]] = []

    def worker(name: str) -> None:
        mine = Store(store_url)
        opened = _open(mine, name)
        roles.append((opened.role, opened.run.id))
        mine.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(r for r, _ in roles) == ["new", "unfinished", "unfinished", "unfinished"]
    assert len({i for _, i in roles}) == 1


def test_instances_ingesting_at_once_keep_one_row_per_paper_and_distinct_seqs(
    pg_url: str,
) -> None:
    """Four threads (instances on one PostgreSQL) ingest overlapping listings and save feed
    state at the same moment: no error, one row per paper, every paper its own ingest seq,
    one feed-state row. (On SQLite one run at a time holds the store: the run lock.)"""
    store_url = pg_url
    import threading

    from sqlalchemy import func, select

    from digest.models import FeedState
    from digest.store.schema import feed_state, papers

    Store(store_url).close()  # migrated once, as the first instance does
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        mine = Store(store_url)
        try:
            batch = [
                Paper(id=f"arxiv:2509.{i:05d}", title=f"t{i}", abstract="a")
                for i in range(k * 10, k * 10 + 40)
            ]
            mine.ingest(batch, source="shared", now=T0)
            mine.save_feed_state("shared", FeedState(etag=f"e{k}"), now=T0)
        except BaseException as exc:  # any failure is the test's to report
            errors.append(exc)
        finally:
            mine.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    store = Store(store_url)
    with store.engine.connect() as conn:
        count, seqs = conn.execute(
            select(func.count(), func.count(func.distinct(papers.c.seq)))
        ).one()
        states = conn.execute(select(func.count()).select_from(feed_state)).scalar()
    store.close()
    assert (count, seqs, states) == (70, 70, 1)


@pytest.mark.postgres
def test_a_dry_run_plans_a_private_run_and_leaves_real_runs_alone(
    pg_url: str, tmp_path: Path
) -> None:
    """While a real run of the group is unfinished (its chunks half done), a dry-run on the
    same PostgreSQL writes every subscriber's digest and neither takes that run up nor
    changes its rows."""
    import asyncio

    from sqlalchemy import select

    from digest import app
    from digest.config.load import load_config
    from digest.store.schema import group_runs, run_chunks
    from tests.conftest import LISTINGS, write_config

    people = [
        {"name": f"R{i}", "email": f"r{i}@example.org", "keywords": ["network"]} for i in range(3)
    ]
    path = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=people,
        extra="\n[ranking]\nsemantic = false\n",
    )
    path.write_text(path.read_text().replace('path = "state/digest.sqlite3"', f'url = "{pg_url}"'))
    config = load_config(path)
    store = Store(pg_url)
    from digest.run.group import group_key

    real = _open(store, "elsewhere:1", group_key=group_key([p["email"] for p in people])).run
    store.begin_sending(real.id, cursor=0, chunk_size=1, chunks=3)
    store.finish_chunk(real.id, 0, instance="elsewhere:1", subscribers=1)
    with store.engine.connect() as conn:
        before = (conn.execute(select(group_runs)).all(), conn.execute(select(run_chunks)).all())
    report = asyncio.run(app.run(config, now=T0, dry_run=True, outbox_dir=tmp_path / "out"))
    assert sorted(d.email for d in report.deliveries if d.status == "written") == [
        p["email"] for p in people
    ]
    with store.engine.connect() as conn:
        after = (conn.execute(select(group_runs)).all(), conn.execute(select(run_chunks)).all())
    assert after == before
    store.close()
