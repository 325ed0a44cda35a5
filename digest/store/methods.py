"""Store methods beyond papers and the ledger, mixed into ``Store``: shared runs (several
instances on one database) and what subscribers say through their links. Each method is one
transaction over the functions in ``claims`` and ``links``."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from digest.store import claims, links
from digest.store.claims import Opened, SharedRun


class _Transactions:
    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _read(self) -> AbstractContextManager[Connection]: ...


class SharedRuns(_Transactions):
    """Leading, joining and claiming shared runs."""

    def open_shared_run(self, **kwargs: Any) -> Opened:
        """Lead, join or skip a schedule group's run (see claims.open_run)."""
        with self._write() as conn:
            return claims.open_run(conn, **kwargs)

    def shared_run(self, run_id: int) -> SharedRun:
        """A shared run as it stands now."""
        with self._read() as conn:
            return claims.load_run(conn, run_id)

    def take_over(self, run_id: int, instance: str, *, wall: float, lease: float) -> SharedRun:
        """Lead a run whose leader's lease ran out while fetching."""
        with self._write() as conn:
            return claims.take_over(conn, run_id, instance, wall=wall, lease=lease)

    def renew(self, run_id: int, instance: str, until: float) -> None:
        """Extend `instance`'s leases: on the run it leads and on the claims it holds."""
        with self._write() as conn:
            claims.renew_run(conn, run_id, instance, until)
            claims.renew_claims(conn, run_id, instance, until)

    def begin_sending(self, run_id: int, *, cursor: int, subscribers: Sequence[str]) -> None:
        """Open the run's claims to every instance."""
        with self._write() as conn:
            claims.begin_sending(conn, run_id, cursor=cursor, subscribers=subscribers)

    def claim(
        self, run_id: int, instance: str, *, size: int, wall: float, lease: float
    ) -> list[str]:
        """Up to `size` free subscribers of the run, now held by `instance`."""
        with self._write() as conn:
            return claims.claim(conn, run_id, instance, size=size, wall=wall, lease=lease)

    def finish_claim(self, run_id: int, subscriber: str, instance: str, outcome: str) -> None:
        """A subscriber done for the run without a delivery to record."""
        with self._write() as conn:
            claims.finish_claim(conn, run_id, subscriber, instance, outcome)

    def release_claims(self, run_id: int, instance: str) -> int:
        """Give back the claims `instance` has not started."""
        with self._write() as conn:
            return claims.release_claims(conn, run_id, instance)

    def held_elsewhere(self, run_id: int, instance: str, wall: float) -> int:
        """Unfinished claims other live instances hold."""
        with self._read() as conn:
            return claims.held_elsewhere(conn, run_id, instance, wall)

    def finish_run(self, run_id: int, wall: float) -> bool:
        """Mark the run finished if no claim is open."""
        with self._write() as conn:
            return claims.finish_run(conn, run_id, wall)

    def recent_shared(self, limit: int = 5) -> list[dict[str, Any]]:
        """The newest shared runs, who did what and who holds what."""
        with self._read() as conn:
            return claims.recent_shared(conn, limit)


class SubscriberLinks(_Transactions):
    """Opt-outs (they override the config) and the sent digests kept for the browser."""

    def opt_out(self, email: str, *, now: datetime, via: str) -> bool:
        """Unsubscribe `email`; False when it already was."""
        with self._write() as conn:
            return links.opt_out(conn, email, now=now, via=via)

    def opt_in(self, email: str) -> bool:
        """Undo an opt-out; False when there was none."""
        with self._write() as conn:
            return links.opt_in(conn, email)

    def opted_out(self) -> dict[str, str]:
        """Every opted-out address with the time it opted out."""
        with self._read() as conn:
            return links.opted_out(conn)

    def page(self, message_id: str) -> str | None:
        """The HTML of a sent digest, as sent (None: unknown or pruned)."""
        with self._read() as conn:
            return links.page(conn, message_id)

    def prune_pages(self, before: datetime) -> int:
        """Forget the pages of digests sent before `before`."""
        with self._write() as conn:
            return links.prune_pages(conn, before)
