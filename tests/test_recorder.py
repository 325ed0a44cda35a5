"""Group commit: digests accepted together are recorded in one transaction, all or none."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from digest.errors import StoreError
from digest.models import Sent
from digest.run.record import Recorder
from digest.store import Store

NOW = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)


def _sent(n: int) -> Sent:
    return Sent(
        f"r{n}@example.org", (f"arxiv:2509.{n:05d}", "arxiv:2509.99999"), f"<m{n}@x>", NOW, NOW, 0
    )


async def _record_all(recorder: Recorder, count: int) -> list[BaseException | None]:
    return await asyncio.gather(
        *(recorder.record(_sent(n)) for n in range(count)), return_exceptions=True
    )


def test_messages_accepted_together_share_one_transaction(store_url: str) -> None:
    """Five digests recorded at once land in one batch, every ledger row present."""
    store = Store(store_url)
    try:
        recorder = Recorder(store)
        results = asyncio.run(_record_all(recorder, 5))
        assert results == [None] * 5 and recorder.batches == 1
        for n in range(5):
            assert store.sent_ids(f"r{n}@example.org") == {
                f"arxiv:2509.{n:05d}",
                "arxiv:2509.99999",
            }
        asyncio.run(_record_all(recorder, 1))  # a lone digest is recorded at once
        assert recorder.batches == 2
    finally:
        store.close()


def test_a_failed_batch_records_none_and_tells_every_digest(tmp_path: Path) -> None:
    """When the transaction fails, each digest of the batch gets the StoreError and no row stays."""
    db = tmp_path / "store.sqlite3"
    Store.sqlite(db).close()
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER trap BEFORE INSERT ON deliveries WHEN NEW.subscriber = 'r3@example.org' "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )
    store = Store.sqlite(db)
    try:
        results = asyncio.run(_record_all(Recorder(store), 5))
        assert all(isinstance(r, StoreError) and "disk is full" in str(r) for r in results)
        assert all(store.sent_ids(f"r{n}@example.org") == set() for n in range(5))
    finally:
        store.close()


@pytest.mark.parametrize("count", [1, 40])
def test_recorded_batches_never_outnumber_digests(tmp_path: Path, count: int) -> None:
    """However many digests wait, each is recorded exactly once."""
    store = Store.sqlite(tmp_path / "store.sqlite3")
    try:
        recorder = Recorder(store)
        assert asyncio.run(_record_all(recorder, count)) == [None] * count
        assert 1 <= recorder.batches <= count
        assert len(store.last_deliveries()) == count
    finally:
        store.close()
