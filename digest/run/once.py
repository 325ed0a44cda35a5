"""run_once: the one place that sequences I/O — fetch, parse, store, rank, render, send, record."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import date, datetime, timedelta

from digest.config.values import Config
from digest.decide import Decision, decide, due_alerts, failed
from digest.errors import DeliveryError, SourceError, StoreError
from digest.fetch import Fetcher
from digest.health import failing_streaks
from digest.mail.compose import alert_message
from digest.mail.deliver import Outbox
from digest.models import (
    DeliveryOutcome,
    FeedState,
    RunReport,
    SourceOutcome,
)
from digest.ranking.batch import Batch
from digest.ranking.semantic import Embedder
from digest.run.deliver import Halt, in_order, relay_stop, send_all
from digest.run.plan import plan_digests, rank_batch
from digest.sources.base import SourceSettings
from digest.store import Store


async def fetch_and_decide(
    source: SourceSettings, state: FeedState, *, fetcher: Fetcher, day: date
) -> Decision:
    """Fetch one source (conditional on `state`) and decide what it means; every failure,
    foreseen or not, becomes a failed decision with a one-line reason."""
    location = source.location(day)
    try:
        fetched = await fetcher.fetch(
            location, source=source.name, etag=state.etag, last_modified=state.last_modified
        )
        return decide(source, fetched, state, location=location)
    except SourceError as exc:
        return failed(str(exc))
    except Exception as exc:  # any input may break a parser in a new way; the run goes on
        log.debug("source %s: unexpected failure", source.name, exc_info=True)
        return failed(f"source {source.name!r}: cannot read it ({type(exc).__name__}: {exc})")


async def read_source(
    source: SourceSettings, *, fetcher: Fetcher, store: Store, now: datetime
) -> SourceOutcome:
    """Fetch one source, let the decider say what it means, store what it says to."""
    try:
        state = store.feed_state(source.name)
        decision = await fetch_and_decide(source, state, fetcher=fetcher, day=now.date())
        if decision.status == "failed":
            log.warning("source %s failed: %s", source.name, decision.error)
            return decision.outcome(source.name)
        new = store.ingest(decision.papers, source=source.name, now=now) if decision.papers else 0
        if decision.state is not None:
            store.save_feed_state(source.name, decision.state, now=now)
    except StoreError as exc:  # disk full, read-only, locked: this source's news is not kept
        log.warning("source %s: %s", source.name, exc)
        return SourceOutcome(name=source.name, status="failed", error=str(exc))
    if decision.status != "not-modified":
        log.info("source %s: %d papers, %d new", source.name, len(decision.papers), new)
    return decision.outcome(source.name, new)


log = logging.getLogger("digest.run")


async def send_alerts(
    config: Config,
    outcomes: Sequence[SourceOutcome],
    *,
    store: Store,
    outbox: Outbox,
    now: datetime,
) -> list[str]:
    """Email [alerts] admin_email once when a source reaches `failures` failed runs in a row."""
    alerts = config.settings.alerts
    if not alerts.admin_email or alerts.failures < 1:
        return []
    earlier = failing_streaks(store.recent_runs(alerts.failures, real_only=not outbox.dry_run))
    failing = due_alerts(outcomes, earlier, alerts.failures)
    if not failing:
        return []
    message = alert_message(
        sender=config.settings.email.sender, to=alerts.admin_email, failing=failing, now=now
    )
    names = ", ".join(name for name, _, _ in failing)
    try:
        await outbox.send(message)
    except DeliveryError as exc:
        return [f"alert about {names} to {alerts.admin_email} failed: {exc}"]
    return [f"alert sent to {alerts.admin_email}: {names} failed {alerts.failures} runs in a row"]


async def fetch_all(
    config: Config, *, store: Store, fetcher: Fetcher, now: datetime
) -> list[SourceOutcome]:
    """Read every source at once; each outcome says what it gave or why not."""
    return list(
        await asyncio.gather(
            *(read_source(s, fetcher=fetcher, store=store, now=now) for s in config.sources)
        )
    )


def plan_all(
    config: Config, store: Store, *, now: datetime, embedder: Embedder | None, upto: int | None
) -> tuple[Batch | None, str | None]:
    """Rank every subscriber's candidates (up to paper seq `upto`), or say why it could not."""
    try:  # ranked before the sending clock starts: embedding new papers is not sending
        return rank_batch(config, store, now=now, embedder=embedder, upto=upto), None
    except StoreError as exc:  # the candidates could not be read: nobody is served
        return None, f"not sent: {exc}"


def without_opt_outs(config: Config, store: Store) -> tuple[Config, list[DeliveryOutcome]]:
    """The config without the subscribers who unsubscribed through their link (what they
    said overrides the config), and an outcome for each of them. StoreError when the
    opt-outs cannot be read: then nobody may be sent anything."""
    opted = store.opted_out()
    if not opted:
        return config, []
    keep = [i for i, s in enumerate(config.subscribers) if s.email.casefold() not in opted]
    skipped = [
        DeliveryOutcome(s.name, s.email, status="opted-out")
        for s in config.subscribers
        if s.email.casefold() in opted
    ]
    return config.narrowed(keep), skipped


async def run_once(
    config: Config,
    *,
    now: datetime,
    store: Store,
    outbox: Outbox,
    fetcher: Fetcher,
    clock: Callable[[], datetime] | None = None,
    embedder: Embedder | None = None,
    progress: Callable[[int, int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> RunReport:
    """One pass over every source and subscriber; failures are reported, never raised.

    `now` stamps everything the run records; `clock` (default: always `now`) only times it.
    """
    outcomes = await fetch_all(config, store=store, fetcher=fetcher, now=now)
    halt = Halt()
    errors: list[str] = []
    try:
        cursor: int | None = store.newest_seq()  # the next window opens after what we saw now
    except StoreError as exc:
        errors.append(str(exc))
        cursor = None
    try:
        config, skipped = without_opt_outs(config, store)
        batch, why = plan_all(config, store, now=now, embedder=embedder, upto=None)
    except StoreError as exc:
        skipped, batch, why = [], None, f"not sent: {exc}"
    if why is not None:
        halt.stop(why)
    plans = plan_digests(batch, now=now) if batch is not None else iter(())
    tick = clock or (lambda: now)
    sending_started = tick()
    relay = asyncio.create_task(relay_stop(stop, halt)) if stop is not None else None
    async with outbox:
        deliveries, served = await send_all(
            config,
            in_order(plans),
            store=store,
            outbox=outbox,
            now=now,
            halt=halt,
            cursor=cursor,
            progress=progress,
            stop=stop,
        )
        deliveries += skipped
        deliveries += [
            DeliveryOutcome(sub.name, sub.email, status="stopped", error=halt.why)
            for sub in config.subscribers
            if sub.email not in served and halt.is_set()
        ]
        try:
            notes = await send_alerts(config, outcomes, store=store, outbox=outbox, now=now)
        except StoreError as exc:
            notes = [f"no alert check: {exc}"]
    if relay is not None:
        relay.cancel()
    if halt.is_set() and halt.why not in errors:
        errors.append(halt.why)
    report = RunReport(
        started=now,
        finished=clock() if clock else now,
        dry_run=outbox.dry_run,
        sources=tuple(outcomes),
        deliveries=tuple(deliveries),
        new_papers=sum(o.new for o in outcomes),
        sending_seconds=(tick() - sending_started).total_seconds(),
        notes=tuple(notes),
        ranker=f"hybrid ({embedder.name})" if embedder else "lexical",
        errors=tuple(errors),
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
