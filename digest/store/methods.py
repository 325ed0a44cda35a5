"""Store methods beyond papers and the ledger, mixed into ``Store``: runs of schedule groups
(several instances on one database), what subscribers say through their links, their
feedback on papers, and the bounces that pause addresses. Each method is one transaction
over the functions in ``group_runs``, ``links``, ``feedback`` and ``bounces``."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection

from digest.models import Bounce, Pause
from digest.store import bounces, feedback, group_runs, links, locks
from digest.store.group_runs import GroupRun, Opened


class _Transactions:
    if TYPE_CHECKING:

        def _write(self) -> AbstractContextManager[Connection]: ...

        def _read(self) -> AbstractContextManager[Connection]: ...

        _held: Connection | None


class GroupRuns(_Transactions):
    """A schedule group's runs: what is planned and which chunks are done."""

    def open_group_run(self, **kwargs: Any) -> Opened:
        """Pick up, skip or open a schedule group's run (see group_runs.open_run)."""
        with self._write() as conn:
            return group_runs.open_run(conn, serialise=self._held is None, **kwargs)

    def group_run(self, run_id: int) -> GroupRun:
        """The run as it stands now."""
        with self._read() as conn:
            return group_runs.load_run(conn, run_id)

    def begin_sending(self, run_id: int, *, cursor: int, chunk_size: int, chunks: int) -> None:
        """Open the run's chunks to every instance."""
        with self._write() as conn:
            group_runs.begin_sending(
                conn, run_id, cursor=cursor, chunk_size=chunk_size, chunks=chunks
            )

    def chunk_done(self, run_id: int, chunk: int) -> bool:
        """Whether an instance finished this chunk of the run."""
        with self._read() as conn:
            return group_runs.chunk_done(conn, run_id, chunk)

    def finish_chunk(self, run_id: int, chunk: int, *, instance: str, subscribers: int) -> None:
        """Record that the chunk is done."""
        with self._write() as conn:
            group_runs.finish_chunk(conn, run_id, chunk, instance=instance, subscribers=subscribers)

    def finish_run(self, run_id: int) -> bool:
        """Mark the run finished if every chunk is."""
        with self._write() as conn:
            return group_runs.finish_run(conn, run_id)

    def recent_group_runs(self, limit: int = 5) -> list[dict[str, Any]]:
        """The newest runs, who finished what, and (PostgreSQL) who holds which part now."""
        with self._read() as conn:
            found = group_runs.recent_group_runs(conn, limit)
            held = locks.holders(conn) if conn.dialect.name == "postgresql" else []
        for run in found:
            run["held"] = sorted((part, who) for rid, part, who in held if rid == run["id"])
        return found


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


class PaperFeedback(_Transactions):
    """What subscribers said about papers: "more like this" (+1), "less like this" (-1)."""

    def record_feedback(self, email: str, paper_id: str, value: int, *, now: datetime) -> None:
        """Set `email`'s word on a paper (the latest click wins)."""
        with self._write() as conn:
            feedback.record(conn, email, paper_id, value, now=now)

    def undo_feedback(self, email: str, paper_id: str) -> bool:
        """Forget `email`'s word on one paper; False when there was none."""
        with self._write() as conn:
            return feedback.undo(conn, email, paper_id)

    def forget_feedback(self, email: str) -> int:
        """Forget all of `email`'s feedback; how many papers it named."""
        with self._write() as conn:
            return feedback.forget(conn, email)

    def feedback_of(self, email: str) -> list[tuple[str, int, str, str]]:
        """(paper id, +1/-1, when, title) of `email`'s feedback, newest first."""
        with self._read() as conn:
            return feedback.of(conn, email)

    def feedback_votes(self, emails: Sequence[str]) -> dict[str, dict[str, int]]:
        """Per address (case-folded): paper id -> +1 / -1."""
        with self._read() as conn:
            return feedback.votes(conn, emails)

    def feedback_counts(self) -> dict[str, tuple[int, int]]:
        """Per address (case-folded): (liked, disliked) papers."""
        with self._read() as conn:
            return feedback.counts(conn)


class Bounces(_Transactions):
    """Bounces and the addresses they paused."""

    def record_bounce(
        self, bounce: Bounce, *, now: datetime, soft_limit: int, soft_days: int
    ) -> Pause | None:
        """Keep a bounce; the pause it made, if it made one (see bounces.record)."""
        with self._write() as conn:
            return bounces.record(conn, bounce, now=now, soft_limit=soft_limit, soft_days=soft_days)

    def paused(self) -> dict[str, Pause]:
        """Every paused address (case-folded) with why and since when."""
        with self._read() as conn:
            return bounces.paused_now(conn)

    def resume(self, email: str) -> bool:
        """Lift `email`'s pause and forget its bounces; False when it was not paused."""
        with self._write() as conn:
            return bounces.resume(conn, email)
