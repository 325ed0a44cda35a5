"""How a run report looks on a terminal: short lines, and progress while sending."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from digest.models import RunReport

PROGRESS_FROM = 100  # subscribers; smaller lists finish before a bar is worth drawing


def plural(count: int, noun: str) -> str:
    """'1 subscriber', '2 subscribers': one vocabulary for counts everywhere."""
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def format_report(report: RunReport, *, outbox: Path | None = None) -> list[str]:
    """The run report as short human-readable lines."""
    lines: list[str] = []
    failed_sources = [s for s in report.sources if s.status == "failed"]
    lines.append(
        f"sources: {len(report.sources)} read, {len(failed_sources)} failed; "
        f"{plural(report.new_papers, 'new paper')}"
    )
    lines.append(f"ranking: {report.ranker}")
    for s in report.sources:
        detail = s.error if s.error else f"{plural(s.papers, 'paper')}, {s.new} new"
        if s.recovered and not s.error:
            detail += f" (recovered: {s.recovered})"
        lines.append(f"  {s.status:<12} {s.name}: {detail}")
    verb = "written" if report.dry_run else "sent"
    done = [d for d in report.deliveries if d.status in ("sent", "written")]
    where = f" to {outbox}" if outbox and report.dry_run else ""
    opted = sum(1 for d in report.deliveries if d.status == "opted-out")
    skipped = f"; {opted} opted out, skipped" if opted else ""
    lines.append(f"emails: {len(done)} {verb}{where}{skipped}")
    paused = [d.paused for d in report.deliveries if d.paused]
    if paused:
        shown = "; ".join(paused[:3]) + ("; ..." if len(paused) > 3 else "")
        lines.append(f"paused: {len(paused)} ({shown})")
    for d in report.deliveries:
        if d.status in ("sent", "written"):
            detail = f"{plural(d.papers, 'paper')} -> {d.location}"
        elif d.status == "nothing-new":
            detail = "nothing new, no email"
        elif d.status == "opted-out":
            detail = "unsubscribed through their link, no email"
        elif d.status == "paused":
            detail = f"paused ({d.paused}), no email; digest subscribers resume {d.email}"
        elif d.error in report.errors:  # the run's own error, printed once below
            detail = "not sent (see the error below)"
        else:
            detail = d.error or "failed"
            if d.paused:
                detail += f"; now paused ({d.paused})"
        lines.append(f"  {d.status:<12} {d.subscriber} <{d.email}>: {detail}")
    if report.throughput is not None:
        lines.append(
            f"throughput: {plural(len(done), 'email')} in {report.sending_seconds:.1f} s "
            f"({report.throughput:.1f}/s)"
        )
    lines.extend(f"note: {note}" for note in report.notes)
    lines.extend(f"error: {error}" for error in report.errors)
    if report.dry_run:
        lines.append("dry-run: nothing was sent and the store was not changed")
    return lines


@contextmanager
def progress_reporter(total: int) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal (rich), plain lines every 10% otherwise; nothing for
    short lists."""
    if total < PROGRESS_FROM:
        yield None
        return
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("sending", total=total)
            yield lambda done, _total: bar.update(task, completed=done)
        return
    step = max(1, total // 10)

    def line(done: int, all_: int) -> None:
        if done % step == 0 or done == all_:
            click.echo(f"progress: {done}/{all_} digests handled", err=True)

    yield line
