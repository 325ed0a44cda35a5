"""The one orchestration of a run, for every way of running: a schedule group's run is
opened (or an unfinished one taken up, its plan standing), fetched by one instance, then
sent chunk by chunk by whichever instances can hold each chunk. `run --once`, `--dry-run`,
`preview` and each `serve` job differ only in the store session and outbox they give it."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timedelta

from digest.config.values import Config
from digest.errors import DeliveryError, StoreError
from digest.fetch import Fetcher
from digest.mail.deliver import Outbox
from digest.models import DeliveryOutcome, RunReport
from digest.ranking.semantic import Embedder
from digest.run.chunks import send_phase
from digest.run.context import Done, Run, pause
from digest.run.deliver import Halt, relay_stop
from digest.run.gather import fetch_all, send_alerts
from digest.run.group import Group, chunk_size, group_key
from digest.run.owner import Ownership
from digest.run.plan import prepare
from digest.run.seeds import fetch_seeds
from digest.store import Store
from digest.store.group_runs import GroupRun
from digest.store.locks import LEAD
from digest.timeutil import to_text

log = logging.getLogger("digest.run")


async def _fetch_phase(run: Run, planned: GroupRun, done: Done) -> GroupRun:
    """While the run is fetching: fetch, ingest and open its chunks if this instance holds
    the run's lead lock (when the instance that led it died, again), else wait for the one
    that holds it."""
    store, config = run.store, run.config
    while planned.state == "fetching":
        if not await run.owner.take(planned.id, LEAD):
            if run.stop is not None and run.stop.is_set():
                break
            await pause(run.stop, run.group.poll)  # another instance is fetching
            planned = store.group_run(planned.id)
            continue
        try:
            if run.recorded:
                planned = store.group_run(planned.id)
            if planned.state == "fetching":
                now = planned.run_at
                done.outcomes = await fetch_all(config, store=store, fetcher=run.fetcher, now=now)
                done.notes += await fetch_seeds(config, store, run.fetcher, now=now)
                cursor = store.newest_seq()
                # indexed (and embedded) before the chunks open: other instances then find
                # every vector cached
                done.ranker = await run.planning(
                    prepare, config, store, run_at=now, cursor=cursor, embedder=run.embedder
                )
                if done.ranker.problem:
                    done.notes.append(done.ranker.problem)
                n = len(config.subscribers)
                size = chunk_size(n, shared=run.owner.locks is not None)
                chunks = math.ceil(n / size)
                if not run.recorded:
                    planned = replace(
                        planned, state="sending", cursor=cursor, chunk_size=size, chunks=chunks
                    )
                    continue
                store.begin_sending(planned.id, cursor=cursor, chunk_size=size, chunks=chunks)
                planned = store.group_run(planned.id)
                if planned.cursor != cursor:  # another instance opened it first: its cursor
                    done.ranker = None
        finally:
            await run.owner.give_back(planned.id, LEAD)
    return planned


async def _open(run: Run, now: datetime, done: Done) -> GroupRun | None:
    """The group's run to work on after its fetch phase (None when this send happened)."""
    group = run.group
    if not run.recorded:
        fresh = GroupRun(0, group.label, now, group.instance, "fetching", None, 0, 0)
        return await _fetch_phase(run, fresh, done)
    opened = run.store.open_group_run(
        group_key=group_key([s.email for s in run.config.subscribers]),
        label=group.label,
        fire=group.fire,
        run_at=now,
        instance=group.instance,
        stale=group.stale,
    )
    planned = opened.run
    if opened.role == "done":
        done.notes.append(f"{group.label}: this send was done by run {planned.id}")
        return None
    if opened.role == "unfinished":
        done.notes.append(
            f"run {planned.id} of {group.label} (planned {to_text(planned.run_at)}, opened by "
            f"{planned.leader}) taken up"
        )
    return await _fetch_phase(run, planned, done)


async def run_once(
    config: Config,
    *,
    now: datetime,
    store: Store,
    outbox: Outbox,
    fetcher: Fetcher,
    group: Group | None = None,
    clock: Callable[[], datetime] | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: asyncio.Event | None = None,
    only: frozenset[str] | None = None,
) -> RunReport:
    """One pass over every source and subscriber of a schedule group; failures are reported,
    never raised. `now` stamps a new run (a run taken up keeps its own moment); `clock`
    (default: always `now`) only times it. With `only` (a preview) the run ranks as for
    every subscriber but delivers to those addresses alone."""
    group = group or Group()
    tick = clock or (lambda: now)
    done = Done()
    report = RunReport(started=now, finished=now, dry_run=outbox.dry_run)
    try:
        locks = (
            None
            if outbox.dry_run
            else store.session_locks(instance=group.instance, idle=group.failover)
        )
    except StoreError as exc:
        return keep_report(store, replace(report, errors=(str(exc),)), config)
    if locks is not None:
        report = replace(report, instance=group.instance)
    halt = Halt()
    fetch_seconds = planned_early = 0.0
    planner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="digest-plan")
    try:
        async with Ownership(locks, idle=group.failover) as owner:
            run = Run(
                config,
                group,
                store,
                outbox,
                fetcher,
                owner,
                halt,
                embedder,
                progress,
                stop,
                only,
                planner,
            )
            planned: GroupRun | None = None
            async with outbox:
                # the relay is reached while the sources are fetched: a dead one ends the
                # run now, with one line, instead of after ranking and every retry
                ready = asyncio.create_task(_relay(outbox))
                fetch_started = time.perf_counter()
                try:
                    planned = await _open(run, now, done)
                except StoreError as exc:
                    halt.stop(f"not sent: {exc}")
                except BaseException:
                    ready.cancel()
                    raise
                # fetching (and storing) alone: the ranker prepared meanwhile counts as plan
                planned_early = run.planned_seconds[0]
                fetch_seconds = time.perf_counter() - fetch_started - planned_early
                unreachable = await ready
                if unreachable:
                    halt.stop(f"not sent: {unreachable}")
                sending_started = tick()
                relay = asyncio.create_task(relay_stop(stop, halt)) if stop else None
                if planned is not None and planned.state == "sending" and not unreachable:
                    await send_phase(run, planned, done)
                    try:
                        if run.recorded and store.finish_run(planned.id):
                            done.notes.append(f"run {planned.id} of {group.label} finished")
                    except StoreError as exc:
                        done.errors.append(str(exc))
                elif halt.is_set() and locks is None:
                    done.deliveries += [
                        DeliveryOutcome(s.name, s.email, status="stopped", error=halt.why)
                        for s in config.subscribers
                        if only is None or s.email in only
                    ]
                try:
                    at = planned.run_at if planned is not None else now
                    if not unreachable:
                        done.notes += await send_alerts(
                            config, done.outcomes, store=store, outbox=outbox, now=at
                        )
                except StoreError as exc:
                    done.notes.append(f"no alert check: {exc}")
            if relay is not None:
                relay.cancel()
    finally:  # a cancelled plan finishes its chunk in the thread; nothing waits for it
        planner.shutdown(wait=False, cancel_futures=True)
    if halt.is_set() and halt.why not in done.errors:
        done.errors.append(halt.why)
    sending = (tick() - sending_started).total_seconds()
    report = replace(
        report,
        finished=clock() if clock else now,
        sources=tuple(done.outcomes),
        deliveries=tuple(done.deliveries),
        new_papers=sum(o.new for o in done.outcomes),
        sending_seconds=sending,
        notes=tuple(done.notes),
        ranker=(
            f"hybrid ({embedder.name})"
            if embedder and not (done.ranker and done.ranker.problem)
            else "lexical"
        ),
        errors=tuple(done.errors),
        statements=store.statements,
        smtp_retries=outbox.retried,
        fetch_seconds=fetch_seconds,
        plan_seconds=run.planned_seconds[0],
        send_seconds=max(0.0, sending - (run.planned_seconds[0] - planned_early)),
    )
    return keep_report(store, report, config)


async def _relay(outbox: Outbox) -> str | None:
    """Why the outbox cannot send (its relay unreachable, its login refused), or None."""
    try:
        await outbox.ready()
    except DeliveryError as exc:
        return str(exc)
    return None


def keep_report(store: Store, report: RunReport, config: Config | None = None) -> RunReport:
    """Record the report for `digest status` (and forget sent pages older than [web]
    keep_days); a failure to do so is added to it."""
    try:
        web = config.settings.web if config is not None else None
        if web is not None:
            store.prune_pages(report.started - timedelta(days=web.keep_days))
        store.record_run(report)
    except StoreError as exc:
        report = replace(report, errors=(*report.errors, f"this run was not recorded: {exc}"))
    return report
