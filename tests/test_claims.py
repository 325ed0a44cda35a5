"""Shared runs in the store, on SQLite and PostgreSQL: who leads, who joins, how claims are
split, expire and finish, and how a scheduled send is done once."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from digest.models import Paper
from digest.store import Store

T0 = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)
WALL = 1_000_000.0
SUBS = [f"s{i}@example.org" for i in range(10)]


def _open(store: Store, instance: str, *, wall: float = WALL, **kw: Any) -> Any:
    args: dict[str, Any] = {
        "group_key": "g",
        "label": "07:30 UTC mon-fri",
        "fire": None,
        "run_at": T0,
        "instance": instance,
        "wall": wall,
        "lease": 60.0,
        "stale": 3600.0,
    }
    return store.open_shared_run(**{**args, **kw})


def test_first_instance_leads_and_the_next_joins_the_same_run(store_url: str) -> None:
    """The first to open a group's run leads it; a second instance joins that run (same
    run_at), and after it finished a new run of the group is led again."""
    store = Store(store_url)
    first = _open(store, "a")
    second = _open(store, "b", run_at=datetime(2025, 9, 16, 7, 31, tzinfo=UTC))
    assert (first.role, second.role) == ("lead", "join")
    assert second.run.id == first.run.id and second.run.run_at == T0
    store.begin_sending(first.run.id, cursor=0, subscribers=SUBS[:1])
    assert store.claim(first.run.id, "a", size=5, wall=WALL, lease=60) == SUBS[:1]
    store.finish_claim(first.run.id, SUBS[0], "a", "sent")
    assert store.finish_run(first.run.id, WALL)
    third = _open(store, "b")
    assert third.role == "lead" and third.run.id != first.run.id
    store.close()


def test_a_scheduled_send_that_finished_is_not_done_again(store_url: str) -> None:
    """An instance whose schedule fires for a moment another instance already served is
    told so (role 'done'), and does nothing."""
    store = Store(store_url)
    fire = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)
    run = _open(store, "a", fire=fire).run
    store.begin_sending(run.id, cursor=0, subscribers=[])
    assert store.finish_run(run.id, WALL)
    late = _open(store, "b", fire=fire, wall=WALL + 30)
    assert late.role == "done" and late.run.id == run.id
    store.close()


def test_a_leader_that_dies_while_fetching_is_replaced(store_url: str) -> None:
    """A run still fetching whose leader's lease ran out goes to the next instance."""
    store = Store(store_url)
    run = _open(store, "a").run
    assert _open(store, "b", wall=WALL + 30).role == "join"  # lease still live
    taken = _open(store, "b", wall=WALL + 61)
    assert taken.role == "lead" and taken.run.id == run.id and taken.run.leader == "b"
    store.close()


def test_an_old_unfinished_run_is_abandoned_not_joined(store_url: str) -> None:
    """A run left unfinished for longer than `stale` is abandoned; a new run starts."""
    store = Store(store_url)
    old = _open(store, "a").run
    store.begin_sending(old.id, cursor=0, subscribers=SUBS)
    fresh = _open(store, "b", wall=WALL + 7200)
    assert fresh.role == "lead" and fresh.run.id != old.id
    assert store.shared_run(old.id).state == "abandoned"
    store.close()


def test_claims_split_subscribers_and_expire_when_their_holder_dies(store_url: str) -> None:
    """Two instances claim disjoint batches in config order; the claims of one that stops
    renewing are claimed by the other once the lease runs out; the run finishes only when
    every subscriber is done."""
    store = Store(store_url)
    run = _open(store, "a").run
    store.begin_sending(run.id, cursor=0, subscribers=SUBS)
    a = store.claim(run.id, "a", size=4, wall=WALL, lease=10)
    b = store.claim(run.id, "b", size=4, wall=WALL, lease=10)
    assert a == SUBS[:4] and b == SUBS[4:8]
    assert store.held_elsewhere(run.id, "b", WALL) == 4
    for who in b:
        store.record_delivery(
            who, ["arxiv:1"], message_id="<m>", run_at=T0, sent_at=T0, claim=(run.id, "b")
        )
    assert store.claim(run.id, "b", size=10, wall=WALL + 1, lease=10) == SUBS[8:]
    assert store.claim(run.id, "b", size=10, wall=WALL + 5, lease=10) == []  # a is alive
    store.renew(run.id, "a", WALL + 20)
    store.renew(run.id, "b", WALL + 20)
    assert store.claim(run.id, "c", size=10, wall=WALL + 15, lease=10) == []  # renewed
    assert not store.finish_run(run.id, WALL + 15)
    taken = store.claim(run.id, "b", size=10, wall=WALL + 21, lease=10)
    assert taken == SUBS[:4] + SUBS[8:]  # a stopped renewing: its claims are b's now
    for who in taken:
        store.finish_claim(run.id, who, "b", "nothing-new")
    assert store.finish_run(run.id, WALL + 22)
    shared = store.recent_shared(1)[0]
    assert shared["state"] == "finished" and shared["done"] == {"b": 10}
    store.close()


def test_released_claims_go_to_another_instance_at_once(store_url: str) -> None:
    """Claims an instance gives back when it stops are free immediately, lease or not."""
    store = Store(store_url)
    run = _open(store, "a").run
    store.begin_sending(run.id, cursor=0, subscribers=SUBS[:3])
    assert store.claim(run.id, "a", size=3, wall=WALL, lease=60) == SUBS[:3]
    assert store.release_claims(run.id, "a") == 3
    assert store.claim(run.id, "b", size=3, wall=WALL, lease=60) == SUBS[:3]
    held = store.recent_shared(1)[0]["held"]
    assert held == {"b": (3, WALL + 60)}
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


def test_instances_claiming_at_the_same_moment_never_get_the_same_subscriber(
    store_url: str,
) -> None:
    """Four threads, each with its own store connection, claim one subscriber at a time
    as fast as they can: every subscriber is claimed exactly once."""
    import threading

    subs = [f"t{i}@example.org" for i in range(200)]
    store = Store(store_url)
    run = _open(store, "a").run
    store.begin_sending(run.id, cursor=0, subscribers=subs)
    got: dict[str, list[str]] = {}

    def worker(name: str) -> None:
        mine = Store(store_url)
        got[name] = []
        while picked := mine.claim(run.id, name, size=1, wall=WALL, lease=60):
            got[name] += picked
        mine.close()

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    claimed = [s for names in got.values() for s in names]
    assert sorted(claimed) == sorted(subs) and len(claimed) == len(set(claimed))
    store.close()


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
