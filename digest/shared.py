"""A run shared by several instances on one PostgreSQL: the first to open a schedule group's
run leads it (fetches, ingests, opens one claim per subscriber), every instance that is up
claims subscribers in batches and sends to them, and a dead instance's claims expire and are
finished by the others. Each instance reports what it did itself."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from digest.config.values import Config
from digest.errors import StoreError
from digest.fetch import Fetcher
from digest.mail.deliver import Outbox
from digest.models import DeliveryOutcome, RunReport, SourceOutcome
from digest.ranking.batch import Batch
from digest.ranking.semantic import Embedder
from digest.run.deliver import Halt, relay_stop, send_all
from digest.run.once import fetch_all, keep_report, plan_all, send_alerts, without_opt_outs
from digest.run.plan import Planned, plan_one
from digest.store import Store
from digest.store.claims import SharedRun

log = logging.getLogger("digest.shared")


def instance_name() -> str:
    """This process as other instances see it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def group_key(emails: Sequence[str]) -> str:
    """The same key on every instance with the same subscribers in the group."""
    return hashlib.sha256("\n".join(emails).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Share:
    """How this instance takes part in shared runs: its name, the group's label and the
    moment a schedule fired for (None for `digest run`), lease length, claim batch size."""

    instance: str = field(default_factory=instance_name)
    label: str = "all subscribers"
    fire: datetime | None = None
    lease: float = 60.0
    batch: int = 20
    poll: float = 0.5
    stale: float = 6 * 3600.0
    wall: Callable[[], float] = time.time


async def _heartbeat(store: Store, run_id: int, share: Share) -> None:
    """Renew this instance's leases (the run it leads, the claims it holds) every third of
    a lease, until cancelled."""
    while True:
        await asyncio.sleep(share.lease / 3)
        try:
            store.renew(run_id, share.instance, share.wall() + share.lease)
        except StoreError as exc:  # the leases run out; others take the work over
            log.warning("could not renew leases: %s", exc)


async def _claimed(
    batch: Batch, store: Store, run: SharedRun, share: Share, halt: Halt
) -> AsyncIterator[Planned]:
    """Plans of the subscribers this instance claims, a batch at a time, until no claim is
    left that a live instance holds (expired ones are claimed again)."""
    rows = {sub.email: i for i, sub in enumerate(batch.subscribers)}
    while not halt.is_set():
        try:
            picked = store.claim(
                run.id, share.instance, size=share.batch, wall=share.wall(), lease=share.lease
            )
            if not picked and not store.held_elsewhere(run.id, share.instance, share.wall()):
                return
        except StoreError as exc:
            halt.stop(f"stopped sending: {exc}")
            return
        if not picked:
            await asyncio.sleep(share.poll)  # others hold the rest; their leases may run out
            continue
        for email in picked:
            if email in rows:  # a subscriber no longer in this config is left alone
                yield plan_one(batch, rows[email], now=run.run_at)
            else:
                with contextlib.suppress(StoreError):  # else its lease runs out; harmless
                    store.finish_claim(run.id, email, share.instance, "unknown")


async def _wait_for_sending(
    store: Store, run: SharedRun, share: Share, stop: asyncio.Event | None
) -> SharedRun:
    """Wait while the leader fetches; lead instead if its lease runs out."""
    while run.state == "fetching" and run.leader != share.instance:
        if stop is not None and stop.is_set():
            return run
        await asyncio.sleep(share.poll)
        run = store.shared_run(run.id)
        if run.state == "fetching" and run.lease_until < share.wall():
            run = store.take_over(run.id, share.instance, wall=share.wall(), lease=share.lease)
    return run


async def run_shared(
    config: Config,
    *,
    now: datetime,
    store: Store,
    outbox: Outbox,
    fetcher: Fetcher,
    share: Share,
    clock: Callable[[], datetime] | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> RunReport:
    """This instance's part of the group's shared run; failures are reported, never raised."""
    tick = clock or (lambda: now)
    emails = [sub.email for sub in config.subscribers]
    report = RunReport(started=now, finished=now, dry_run=False, instance=share.instance)
    try:
        opened = store.open_shared_run(
            group_key=group_key(emails),
            label=share.label,
            fire=share.fire,
            run_at=now,
            instance=share.instance,
            wall=share.wall(),
            lease=share.lease,
            stale=share.stale,
        )
    except StoreError as exc:
        return replace(report, errors=(str(exc),))
    run = opened.run
    if opened.role == "done":
        note = f"{share.label}: this send was done by run {run.id} (led by {run.leader})"
        return replace(report, notes=(note,))
    heart = asyncio.create_task(_heartbeat(store, run.id, share))
    try:
        return await _take_part(
            config,
            run,
            store=store,
            outbox=outbox,
            fetcher=fetcher,
            share=share,
            tick=tick,
            embedder=embedder,
            progress=progress,
            stop=stop,
            report=report,
        )
    finally:
        heart.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await heart


async def _send_share(
    config: Config,
    run: SharedRun,
    batch: Batch,
    *,
    store: Store,
    outbox: Outbox,
    share: Share,
    halt: Halt,
    progress: Callable[[int, int], None] | None,
    stop: asyncio.Event | None,
    outcomes: list[SourceOutcome],
    notes: list[str],
) -> list[DeliveryOutcome]:
    """Claim and send until no claim is left; the leader also checks the failing-source
    alerts."""
    relay = asyncio.create_task(relay_stop(stop, halt)) if stop is not None else None
    async with outbox:
        deliveries, _ = await send_all(
            config,
            _claimed(batch, store, run, share, halt),
            store=store,
            outbox=outbox,
            now=run.run_at,
            halt=halt,
            cursor=run.cursor,
            claim=(run.id, share.instance),
            progress=progress,
            stop=stop,
        )
        if outcomes:
            try:
                notes += await send_alerts(
                    config, outcomes, store=store, outbox=outbox, now=run.run_at
                )
            except StoreError as exc:
                notes.append(f"no alert check: {exc}")
    if relay is not None:
        relay.cancel()
    return deliveries


async def _take_part(
    config: Config,
    run: SharedRun,
    *,
    store: Store,
    outbox: Outbox,
    fetcher: Fetcher,
    share: Share,
    tick: Callable[[], datetime],
    embedder: Embedder | None,
    progress: Callable[[int, int], None] | None,
    stop: asyncio.Event | None,
    report: RunReport,
) -> RunReport:
    """Lead (fetch, rank, open the claims) or wait for the leader (then rank with the
    embeddings it cached), then claim and send."""
    outcomes: list[SourceOutcome] = []
    errors: list[str] = []
    notes: list[str] = []
    batch: Batch | None = None
    skipped: list[DeliveryOutcome] = []
    try:
        run = await _wait_for_sending(store, run, share, stop)
        config, skipped = without_opt_outs(config, store)
        if run.state == "fetching":  # this instance leads
            outcomes = await fetch_all(config, store=store, fetcher=fetcher, now=run.run_at)
            cursor = store.newest_seq()
            batch, why = plan_all(config, store, now=run.run_at, embedder=embedder, upto=cursor)
            if batch is None:  # claims stay closed; another instance takes the lead over
                raise StoreError(why or "not sent")
            emails = [s.email for s in config.subscribers]
            store.begin_sending(run.id, cursor=cursor, subscribers=emails)
            run = store.shared_run(run.id)
        elif run.state == "sending":
            notes.append(f"joined run {run.id} of {share.label}, led by {run.leader}")
            batch, why = plan_all(config, store, now=run.run_at, embedder=embedder, upto=run.cursor)
            if batch is None:
                raise StoreError(why or "not sent")
    except StoreError as exc:
        errors.append(str(exc))
    halt = Halt()
    deliveries: list[DeliveryOutcome] = []
    sending_started = tick()
    if not errors and (batch is None or run.state != "sending"):
        notes.append(f"run {run.id} of {share.label} is {run.state}: nothing to do")
    elif batch is not None:
        deliveries = await _send_share(
            config,
            run,
            batch,
            store=store,
            outbox=outbox,
            share=share,
            halt=halt,
            progress=progress,
            stop=stop,
            outcomes=outcomes,
            notes=notes,
        )
        try:
            released = store.release_claims(run.id, share.instance)
            if released:
                notes.append(f"gave back {released} unstarted claims to the other instances")
            if store.finish_run(run.id, share.wall()):
                notes.append(f"run {run.id} of {share.label} finished")
        except StoreError as exc:
            errors.append(str(exc))
    if halt.is_set() and halt.why not in errors:
        errors.append(halt.why)
    finished = replace(
        report,
        started=run.run_at,
        finished=tick(),
        sources=tuple(outcomes),
        deliveries=(*deliveries, *(skipped if run.leader == share.instance else ())),
        new_papers=sum(o.new for o in outcomes),
        sending_seconds=(tick() - sending_started).total_seconds(),
        notes=tuple(notes),
        ranker=f"hybrid ({embedder.name})" if embedder else "lexical",
        errors=tuple(errors),
        statements=store.statements,
    )
    return keep_report(store, finished, config)
