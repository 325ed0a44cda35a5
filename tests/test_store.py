"""The SQLite store: migrations, merge on ingest, candidate windows, delivery ledger."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest.errors import StoreError
from digest.models import Paper
from digest.store import SCHEMA_VERSION, Store, dry_run_copy

T0 = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)
WEEK = timedelta(days=7)


def test_new_store_is_migrated_to_the_current_schema(tmp_path: Path) -> None:
    """Opening a fresh file creates every table and records the schema version."""
    store = Store.sqlite(tmp_path / "s.db")
    assert store.schema_version() == SCHEMA_VERSION
    store.close()
    tables = {
        r[0]
        for r in sqlite3.connect(tmp_path / "s.db").execute(
            "select name from sqlite_master where type='table'"
        )
    }
    assert {"meta", "papers", "sightings", "feed_state", "deliveries", "runs"} <= tables


def test_store_from_the_future_is_refused(tmp_path: Path) -> None:
    """A store written by a newer schema is refused with a clear error, not corrupted."""
    Store.sqlite(tmp_path / "s.db").close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        db.execute("update meta set value = '99' where key = 'schema_version'")
    with pytest.raises(StoreError, match="newer"):
        Store.sqlite(tmp_path / "s.db")


def test_ingest_counts_new_papers_and_merges_repeats(tmp_path: Path) -> None:
    """A paper seen again from another source is enriched, not counted as new."""
    store = Store.sqlite(tmp_path / "s.db")
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


def test_candidates_exclude_sent_papers_and_papers_from_before_the_last_digest(
    tmp_path: Path,
) -> None:
    """After a digest, only papers first seen later are candidates; sent ones never return."""
    store = Store.sqlite(tmp_path / "s.db")
    store.ingest([Paper(id="a", title="A"), Paper(id="b", title="B")], source="s", now=T0)
    papers, pools = store.candidate_pools(["x@y.org"], now=T0, lookback=WEEK)
    assert pools == [["a", "b"]] and set(papers) == {"a", "b"}
    store.record_delivery("x@y.org", ["a"], message_id="<m1@x>", run_at=T0, sent_at=T0)
    later = T0 + timedelta(days=1)
    store.ingest([Paper(id="c", title="C"), Paper(id="a", title="A")], source="s", now=later)
    papers, pools = store.candidate_pools(["x@y.org", "new@y.org"], now=later, lookback=WEEK)
    assert pools == [["c"], ["a", "b", "c"]]
    assert papers["c"].title == "C"


def test_papers_sent_in_a_later_window_are_never_candidates(tmp_path: Path) -> None:
    """Even with runs stamped out of order, a paper already sent to someone is not offered again."""
    store = Store.sqlite(tmp_path / "s.db")
    store.ingest([Paper(id="a", title="A")], source="s", now=T0 + timedelta(days=2))
    store.record_delivery("x@y.org", ["a"], message_id="<m@x>", run_at=T0, sent_at=T0)
    _, pools = store.candidate_pools(["x@y.org"], now=T0 + timedelta(days=3), lookback=WEEK)
    assert pools == [[]]


def test_recording_a_delivery_twice_is_harmless(tmp_path: Path) -> None:
    """Recording the same papers again for a subscriber keeps one row each."""
    store = Store.sqlite(tmp_path / "s.db")
    for _ in range(2):
        store.record_delivery("x@y.org", ["a", "b", "a"], message_id="<m>", run_at=T0, sent_at=T0)
    assert store.sent_ids("x@y.org") == {"a", "b"}


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
