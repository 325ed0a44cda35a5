"""Group commit for the delivery ledger: messages accepted together are recorded together.

Each digest waits for its own ledger write before it gives its place on the wire back, so a
crash can resend at most the digests on the wire (`connections`), as before. What changes is
that the digests whose SMTP replies arrived in the same turn of the event loop share one
transaction: the first to arrive schedules a flush for the end of the turn, the others join
it. The busier the run, the larger the batches; a lone digest is recorded at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from digest.errors import StoreError
from digest.models import Sent
from digest.store import Store


class Recorder:
    """Records accepted messages in batches; `record` returns once its message is stored."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[tuple[Sent, asyncio.Future[None]]] = []
        self._flushing: asyncio.Task[None] | None = None
        self.batches = 0

    async def record(self, sent: Sent) -> None:
        """Store `sent` in the ledger with whatever else is waiting; StoreError if the
        transaction failed (then none of its batch is recorded)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((sent, future))
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush())
        await future

    async def _flush(self) -> None:
        try:
            while self._pending:
                await asyncio.sleep(0)  # let the rest of this turn's replies join the batch
                batch, self._pending = self._pending, []
                await self._write(batch)
        finally:
            self._flushing = None

    async def _write(self, batch: Sequence[tuple[Sent, asyncio.Future[None]]]) -> None:
        entries = [sent for sent, _ in batch]
        try:
            if self.store.remote:
                # a server's commit waits for its disk: in a worker thread, so the event loop
                # keeps the other connections busy meanwhile
                await asyncio.to_thread(self.store.record_deliveries, entries)
            else:  # SQLite (WAL) commits in well under a millisecond: a thread costs more
                self.store.record_deliveries(entries)
        except StoreError as exc:
            for _, future in batch:
                if not future.done():
                    future.set_exception(exc)
            return
        except BaseException as exc:
            # cancelled (a worker thread may still finish the commit): each digest of the
            # batch is reported unrecorded, so at worst it goes out again, same Message-ID
            for _, future in batch:
                if not future.done():
                    future.set_exception(StoreError(f"ledger write interrupted: {exc!r}"))
            raise
        self.batches += 1
        for _, future in batch:
            if not future.done():
                future.set_result(None)
