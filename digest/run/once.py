"""The one orchestration of a run, for every way of running: a schedule group's run is
opened (or an unfinished one taken up, its plan standing), fetched by one instance, then
sent chunk by chunk by whichever instances can hold each chunk. `run --once`, `--dry-run`,
`preview` and each `serve` job differ only in the store session and outbox they give it."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import math
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, TypeVar

from jinja2 import Environment

from digest.config.values import Config
from digest.errors import StoreError
from digest.fetch import Fetcher
from digest.mail.deliver import Outbox
from digest.mail.render import make_environment
from digest.models import DeliveryOutcome, RunReport, SourceOutcome, Subscriber
from digest.ranking.semantic import Embedder
from digest.run.deliver import Halt, relay_stop, send_all
from digest.run.gather import fetch_all, send_alerts
from digest.run.group import Group, chunk_size, group_key
from digest.run.owner import Ownership
from digest.run.plan import Ranker, plan_chunk, prepare, rank_chunk
from digest.store import Store
from digest.store.group_runs import GroupRun
from digest.store.locks import LEAD
from digest.timeutil import to_text

T = TypeVar("T")
log = logging.getLogger("digest.run")


@dataclass
class Done:
    """What a run has done so far, for its report."""

    outcomes: list[SourceOutcome] = field(default_factory=list)
    deliveries: list[DeliveryOutcome] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    count: int = 0
    ranker: Ranker | None = None  # made once this instance knows the run's cursor


@dataclass(frozen=True)
class Run:
    """One run's fixed parts, shared by its phases."""

    config: Config
    group: Group
    store: Store
    outbox: Outbox
    fetcher: Fetcher
    owner: Ownership
    halt: Halt
    embedder: Embedder | None
    progress: Callable[[int, int], None] | None
    stop: asyncio.Event | None
    only: frozenset[str] | None  # a preview: the addresses to deliver to (ranked with all)
    planner: ThreadPoolExecutor

    @property
    def recorded(self) -> bool:
        """Whether the run is kept in the store's group runs: not a dry-run or a preview,
        which plan a private run of their own and never read or lock those rows."""
        return not self.outbox.dry_run

    async def planning(self, work: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`work` on the run's one planning thread: the event loop keeps answering, and
        chunk after chunk reuses one thread's memory instead of spreading it over many."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.planner, functools.partial(work, *args, **kwargs))


async def _pause(stop: asyncio.Event | None, seconds: float) -> None:
    """Wait `seconds`, or less when the run is told to stop."""
    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def _fetch_phase(run: Run, planned: GroupRun, done: Done) -> GroupRun:
    """While the run is fetching: fetch, ingest and open its chunks if this instance holds
    the run's lead lock (when the instance that led it died, again), else wait for the one
    that holds it."""
    store, config = run.store, run.config
    while planned.state == "fetching":
        if not await run.owner.take(planned.id, LEAD):
            if run.stop is not None and run.stop.is_set():
                break
            await _pause(run.stop, run.group.poll)  # another instance is fetching
            planned = store.group_run(planned.id)
            continue
        try:
            if run.recorded:
                planned = store.group_run(planned.id)
            if planned.state == "fetching":
                now = planned.run_at
                done.outcomes = await fetch_all(config, store=store, fetcher=run.fetcher, now=now)
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


async def _send_chunk(
    run: Run,
    planned: GroupRun,
    members: Sequence[Subscriber],
    ranker: Ranker,
    env: Environment,
    done: Done,
) -> None:
    """Plan one chunk in a worker thread (the event loop keeps answering meanwhile), then
    send its digests."""
    opted = run.store.opted_out()
    keep = [s for s in members if s.email.casefold() not in opted]
    done.deliveries += [
        DeliveryOutcome(s.name, s.email, status="opted-out")
        for s in members
        if s.email.casefold() in opted
    ]
    if not keep:
        return
    batch = await run.planning(
        rank_chunk,
        run.config,
        run.store,
        keep,
        ranker=ranker,
        run_at=planned.run_at,
        cursor=planned.cursor,
    )
    digests = plan_chunk(batch, day=planned.run_at.date())
    total = len(run.config.subscribers)

    def one_more() -> None:
        done.count += 1
        if run.progress is not None:
            run.progress(done.count, total)

    sent, served = await send_all(
        run.config,
        digests,
        env=env,
        store=run.store,
        outbox=run.outbox,
        now=planned.run_at,
        halt=run.halt,
        cursor=planned.cursor,
        fence=run.owner.fence if run.owner.locks is not None else None,
        progress=one_more,
        stop=run.stop,
    )
    done.deliveries += sent
    done.deliveries += [
        DeliveryOutcome(s.name, s.email, status="stopped", error=run.halt.why)
        for s in keep
        if s.email not in served and run.halt.is_set()
    ]


async def _next_chunk(run: Run, planned: GroupRun, pending: list[int]) -> int | None:
    """The first unfinished chunk this instance can hold (held now; None if none is free).
    Looked for from the start each time, so a chunk left by an instance that died is taken
    as soon as the chunk in hand is sent."""
    for chunk in list(pending):
        if run.halt.is_set():
            return None
        if not await run.owner.take(planned.id, chunk):
            continue
        if not run.recorded or not run.store.chunk_done(planned.id, chunk):
            return chunk
        pending.remove(chunk)
        await run.owner.give_back(planned.id, chunk)
    return None


async def _send_phase(run: Run, planned: GroupRun, done: Done) -> None:
    """Send every chunk of the run this instance can hold, then wait on the chunks others
    hold: they finish them, or their sessions end and this instance takes them."""
    store, subs, size = run.store, run.config.subscribers, planned.chunk_size
    env = make_environment(run.config.templates)  # once a run: every chunk shares its cards
    pending = list(range(planned.chunks))
    try:
        if done.ranker is None:  # the run was fetched by another instance, or earlier
            done.ranker = await run.planning(
                prepare,
                run.config,
                store,
                run_at=planned.run_at,
                cursor=planned.cursor,
                embedder=run.embedder,
            )
            if done.ranker.problem:
                done.notes.append(done.ranker.problem)
        ranker = done.ranker
        while pending and not run.halt.is_set():
            chunk = await _next_chunk(run, planned, pending)
            if chunk is None:  # the rest is held by others: wait for them to finish or die
                await _pause(run.stop, run.group.poll)
                if run.stop is not None and run.stop.is_set():
                    run.halt.stop("stopped sending: shutting down")
                pending = [c for c in pending if not store.chunk_done(planned.id, c)]
                continue
            try:
                members = subs[chunk * size : (chunk + 1) * size]
                if run.only is not None:
                    members = tuple(s for s in members if s.email in run.only)
                await _send_chunk(run, planned, members, ranker, env, done)
                if not run.halt.is_set():
                    if run.recorded:
                        store.finish_chunk(
                            planned.id,
                            chunk,
                            instance=run.group.instance,
                            subscribers=len(members),
                        )
                    pending.remove(chunk)
            finally:
                await run.owner.give_back(planned.id, chunk)
    except StoreError as exc:
        run.halt.stop(f"not sent: {exc}")
    except Exception as exc:  # a fault of ours must still end in a report, not a traceback
        log.debug("planning or sending failed", exc_info=True)
        run.halt.stop(f"not sent: unexpected failure ({type(exc).__name__}: {exc})")
    if run.owner.locks is None and run.halt.is_set():  # every chunk left was this run's own
        seen = {d.email for d in done.deliveries}
        done.deliveries += [
            DeliveryOutcome(s.name, s.email, status="stopped", error=run.halt.why)
            for s in subs
            if s.email not in seen and (run.only is None or s.email in run.only)
        ]


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
            try:
                planned = await _open(run, now, done)
            except StoreError as exc:
                halt.stop(f"not sent: {exc}")
            sending_started = tick()
            relay = asyncio.create_task(relay_stop(stop, halt)) if stop is not None else None
            async with outbox:
                if planned is not None and planned.state == "sending":
                    await _send_phase(run, planned, done)
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
    report = replace(
        report,
        finished=clock() if clock else now,
        sources=tuple(done.outcomes),
        deliveries=tuple(done.deliveries),
        new_papers=sum(o.new for o in done.outcomes),
        sending_seconds=(tick() - sending_started).total_seconds(),
        notes=tuple(done.notes),
        ranker=(
            f"hybrid ({embedder.name})"
            if embedder and not (done.ranker and done.ranker.problem)
            else "lexical"
        ),
        errors=tuple(done.errors),
        statements=store.statements,
    )
    return keep_report(store, report, config)


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
