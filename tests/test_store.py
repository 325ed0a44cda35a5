"""The store on SQLite and on PostgreSQL (each test in its own fresh database): migrations,
merge on ingest, candidate windows, delivery ledger; and SQLite's dry-run copy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import inspect, select, update

from digest.errors import StoreError
from digest.models import Paper, Sent
from digest.store import SCHEMA_VERSION, Store, dry_run_copy
from digest.store.schema import deliveries, meta
from digest.timeutil import to_text

T0 = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)
WEEK = timedelta(days=7)


def test_new_store_is_migrated_to_the_current_schema(store_url: str) -> None:
    """Opening a fresh database creates every table and records the schema version."""
    store = Store(store_url)
    assert store.schema_version() == SCHEMA_VERSION
    tables = set(inspect(store.engine).get_table_names())
    store.close()
    assert {"meta", "papers", "sightings", "feed_state", "deliveries", "runs"} <= tables
    store.close()


def test_store_from_the_future_is_refused(store_url: str) -> None:
    """A store written by a newer schema is refused with a clear error, not corrupted."""
    store = Store(store_url)
    with store.engine.begin() as conn:
        conn.execute(update(meta).where(meta.c.key == "schema_version").values(value="99"))
    store.close()
    with pytest.raises(StoreError, match="newer"):
        Store(store_url)
    store.close()


def test_ingest_counts_new_papers_and_merges_repeats(store_url: str) -> None:
    """A paper seen again from another source is enriched, not counted as new."""
    store = Store(store_url)
    rss = Paper(id="arxiv:2509.11992", title="T", abstract="long abstract", version=1)
    hf = Paper(id="arxiv:2509.11992", title="T", upvotes=42, github="https://github.com/x/y")
    assert store.ingest([rss], source="cs.LG", now=T0) == 1
    assert store.ingest([hf], source="hf", now=T0 + timedelta(days=2)) == 0
    merged = store.paper("arxiv:2509.11992")
    assert merged is not None
    assert (merged.abstract, merged.upvotes, merged.github, merged.version) == (
        "long abstract",
        42,
        "https://github.com/x/y",
        1,
    )
    assert store.count_papers() == 1
    store.close()


def test_candidates_exclude_sent_papers_and_papers_from_before_the_last_digest(
    store_url: str,
) -> None:
    """After a digest, only papers first seen later are candidates; sent ones never return."""
    store = Store(store_url)
    store.ingest([Paper(id="a", title="A"), Paper(id="b", title="B")], source="s", now=T0)
    papers, pools = store.candidate_pools(["x@y.org"], now=T0, lookback=WEEK)
    assert pools == [["a", "b"]] and set(papers) == {"a", "b"}
    store.record_delivery("x@y.org", ["a"], message_id="<m1@x>", run_at=T0, sent_at=T0)
    later = T0 + timedelta(days=1)
    store.ingest([Paper(id="c", title="C"), Paper(id="a", title="A")], source="s", now=later)
    papers, pools = store.candidate_pools(["x@y.org", "new@y.org"], now=later, lookback=WEEK)
    assert pools == [["c"], ["a", "b", "c"]]
    assert papers["c"].title == "C"
    store.close()


def test_papers_sent_in_a_later_window_are_never_candidates(store_url: str) -> None:
    """Even with runs stamped out of order, a paper already sent to someone is not offered again."""
    store = Store(store_url)
    store.ingest([Paper(id="a", title="A")], source="s", now=T0 + timedelta(days=2))
    store.record_delivery("x@y.org", ["a"], message_id="<m@x>", run_at=T0, sent_at=T0)
    _, pools = store.candidate_pools(["x@y.org"], now=T0 + timedelta(days=3), lookback=WEEK)
    assert pools == [[]]
    store.close()


def test_recording_a_delivery_twice_is_harmless(store_url: str) -> None:
    """Recording the same papers again for a subscriber keeps one row each."""
    store = Store(store_url)
    for _ in range(2):
        store.record_delivery("x@y.org", ["a", "b", "a"], message_id="<m>", run_at=T0, sent_at=T0)
    assert store.sent_ids("x@y.org") == {"a", "b"}
    store.close()


def test_a_batch_of_deliveries_is_stored_column_for_column(store_url: str) -> None:
    """record_deliveries stores each digest's papers once with its subscriber, Message-ID,
    times and cursor, on either database (SQLite takes a driver-level insert)."""
    store = Store(store_url)
    later = T0 + timedelta(minutes=1)
    store.record_deliveries(
        [
            Sent("a@x.org", ("p1", "p2", "p1"), "<m1@x>", T0, later, 7),
            Sent("b@x.org", ("p2",), "<m2@x>", T0, later, None),
            Sent("a@x.org", ("p1", "p3"), "<m3@x>", T0, later, 9),
        ]
    )
    with store.engine.connect() as conn:
        got = sorted(tuple(r) for r in conn.execute(select(deliveries)))
    store.close()
    run, sent = to_text(T0), to_text(later)
    assert got == [
        ("a@x.org", "p1", run, sent, "<m1@x>", 7),  # the first record of a paper stays
        ("a@x.org", "p2", run, sent, "<m1@x>", 7),
        ("a@x.org", "p3", run, sent, "<m3@x>", 9),
        ("b@x.org", "p2", run, sent, "<m2@x>", 0),  # no cursor given: the newest seq (none)
    ]


def test_dry_run_copy_reads_but_never_writes_the_original(tmp_path: Path) -> None:
    """The copy holds the original's data; writing to it leaves the original's bytes alone;
    a missing original is not created."""
    original = tmp_path / "s.db"
    store = Store.sqlite(original)
    store.ingest([Paper(id="a", title="A")], source="s", now=T0)
    store.close()
    before = original.read_bytes()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    copy = dry_run_copy(f"sqlite:///{original}", scratch)
    assert copy.paper("a") is not None
    copy.ingest([Paper(id="b", title="B")], source="s", now=T0)
    copy.close()
    assert original.read_bytes() == before
    other = tmp_path / "scratch2"
    other.mkdir()
    dry_run_copy(f"sqlite:///{tmp_path / 'absent.db'}", other).close()
    assert not (tmp_path / "absent.db").exists()


def test_opt_outs_and_kept_pages(store_url: str) -> None:
    """An opt-out is recorded once (case-insensitively) and undone once; a delivery with
    HTML keeps the page, readable by Message-ID, until pages that old are pruned."""
    store = Store(store_url)
    assert store.opt_out("Ada@Example.org", now=T0, via="link")
    assert not store.opt_out("ada@example.org", now=T0, via="cli")
    assert set(store.opted_out()) == {"ada@example.org"}
    assert store.opt_in("ADA@example.org") and not store.opt_in("ada@example.org")
    store.record_delivery(
        "bob@example.org",
        ["arxiv:1"],
        message_id="<m1>",
        run_at=T0,
        sent_at=T0,
        html="<p>café</p>",
    )
    assert store.page("<m1>") == "<p>café</p>" and store.page("<other>") is None
    assert store.prune_pages(T0) == 0
    assert store.prune_pages(T0 + timedelta(seconds=1)) == 1
    assert store.page("<m1>") is None
    store.close()
