"""run_once: the one place that sequences I/O — fetch, parse, store, rank, render, send, record."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import date, datetime
from email.message import Message

from jinja2 import Environment, TemplateError

from digest.config.values import Config
from digest.decide import Decision, decide, due_alerts, failed
from digest.errors import DeliveryError, SourceError, StoreError
from digest.fetch import Fetcher
from digest.health import failing_streaks
from digest.mail.compose import alert_message, compose
from digest.mail.deliver import Outbox
from digest.mail.render import (
    make_environment,
    render_digest,
    template_problem,
    unsubscribe_links,
)
from digest.models import (
    DeliveryOutcome,
    Digest,
    FeedState,
    RunReport,
    SourceOutcome,
    Subscriber,
)
from digest.plan import Planned, plan_digests, rank_batch
from digest.ranking.semantic import Embedder
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


def build_message(config: Config, digest: Digest, env: Environment, *, now: datetime) -> Message:
    """Render and compose one digest with the config's sender, unsubscribe links and List-Id."""
    email = config.settings.email
    sub = digest.subscriber
    unsubscribe = unsubscribe_links(email.unsubscribe, sub.email)
    rendered = render_digest(digest, env, unsubscribe=unsubscribe)
    return compose(
        rendered,
        sender=email.sender,
        to_name=sub.name,
        to_email=sub.email,
        day=digest.day,
        paper_ids=[s.paper.id for s in (*digest.papers, *digest.more)],
        now=now,
        unsubscribe=unsubscribe,
        list_id=email.list_id,
    )


async def deliver_one(
    subscriber: Subscriber,
    digest: Digest | None,
    *,
    config: Config,
    env: Environment,
    store: Store,
    outbox: Outbox,
    now: datetime,
    halt: Halt | None = None,
    cursor: int | None = None,
    wire: asyncio.Semaphore | None = None,
) -> DeliveryOutcome:
    """Render, send and record one subscriber's digest (nothing, once `halt` is set)."""
    base = DeliveryOutcome(subscriber=subscriber.name, email=subscriber.email, status="nothing-new")
    if digest is None:
        return base
    ids = [s.paper.id for s in (*digest.papers, *digest.more)]
    try:
        message = build_message(config, digest, env, now=now)
    except TemplateError as exc:
        return replace(base, status="failed", error=template_problem(exc))
    mid = str(message["Message-ID"])
    async with wire or contextlib.nullcontext():
        # on the wire now (at most `connections` digests are): sent, then recorded
        if halt is not None and halt.is_set():  # sending stopped while this one waited
            return replace(base, status="stopped", papers=len(ids), error=halt.why)
        try:
            location = await outbox.send(message)
        except DeliveryError as exc:
            log.warning("delivery to %s failed: %s", subscriber.email, exc)
            return replace(base, status="failed", papers=len(ids), message_id=mid, error=str(exc))
        try:
            store.record_delivery(
                subscriber.email, ids, message_id=mid, run_at=now, sent_at=now, cursor=cursor
            )
        except StoreError as exc:
            # sent but not remembered: it may go out once more next run: send nothing new
            if halt is not None:
                halt.stop(f"stopped sending: the store cannot record deliveries ({exc})")
            log.error("sent %s to %s but could not record it: %s", mid, subscriber.email, exc)
            return replace(
                base, status="unrecorded", papers=len(ids), message_id=mid, error=str(exc)
            )
    log.info("sent %s to %s: %d papers", mid, subscriber.email, len(ids))
    return replace(
        base,
        status="written" if outbox.dry_run else "sent",
        papers=len(ids),  # every paper the email lists, as the ledger and the Subject count
        message_id=mid,
        location=location,
    )


class Halt(asyncio.Event):
    """Set when sending must stop (a shutdown, a failed ledger write), with the reason."""

    why = ""

    def stop(self, why: str) -> None:
        """Stop sending, keeping the first reason given."""
        if not self.is_set():
            self.why = why
            self.set()


async def _relay(stop: asyncio.Event, halt: Halt) -> None:
    """A shutdown halts sending at once, for the digests already waiting their turn too."""
    await stop.wait()
    halt.stop("stopped sending: shutting down")


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
    outcomes = await asyncio.gather(
        *(read_source(s, fetcher=fetcher, store=store, now=now) for s in config.sources)
    )
    env = make_environment(config.templates)
    halt = Halt()
    errors: list[str] = []
    try:
        cursor: int | None = store.newest_seq()  # the next window opens after what we saw now
    except StoreError as exc:
        errors.append(str(exc))
        cursor = None
    try:  # ranked before the sending clock starts: embedding new papers is not sending
        plans: Iterator[Planned] = plan_digests(
            rank_batch(config, store, now=now, embedder=embedder), now=now
        )
    except StoreError as exc:  # the candidates could not be read: nobody is served
        halt.stop(f"not sent: {exc}")
        plans = iter(())
    total = len(config.subscribers)
    tick = clock or (lambda: now)
    sending_started = tick()
    served: set[str] = set()
    relay = asyncio.create_task(_relay(stop, halt)) if stop is not None else None
    async with outbox:
        # Render the next digests while earlier ones are on the wire; never more in flight
        # than the outbox has connections for (twice, so a connection never waits idle).
        slots = asyncio.Semaphore(max(1, outbox.concurrency * 2))
        # ...but never more digests on the wire (sent, not yet recorded) than connections:
        # that bounds what a crash can send twice, and a stop reaches every digest in line
        wire = asyncio.Semaphore(max(1, outbox.concurrency))
        tasks: list[asyncio.Task[DeliveryOutcome]] = []
        done = 0

        def finished(_: asyncio.Task[DeliveryOutcome]) -> None:
            nonlocal done
            done += 1
            slots.release()
            if progress is not None:
                progress(done, total)

        for subscriber, digest in plans:
            await slots.acquire()
            if stop is not None and stop.is_set():
                halt.stop("stopped sending: shutting down")
            if halt.is_set():
                slots.release()  # finish what is in flight, start nothing new
                break
            served.add(subscriber.email)
            task = asyncio.create_task(
                deliver_one(
                    subscriber,
                    digest,
                    config=config,
                    env=env,
                    store=store,
                    outbox=outbox,
                    now=now,
                    halt=halt,
                    cursor=cursor,
                    wire=wire,
                )
            )
            task.add_done_callback(finished)
            tasks.append(task)
        deliveries = list(await asyncio.gather(*tasks))
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
    sending = (tick() - sending_started).total_seconds()
    report = RunReport(
        started=now,
        finished=clock() if clock else now,
        dry_run=outbox.dry_run,
        sources=tuple(outcomes),
        deliveries=tuple(deliveries),
        new_papers=sum(o.new for o in outcomes),
        sending_seconds=sending,
        notes=tuple(notes),
        ranker=f"hybrid ({embedder.name})" if embedder else "lexical",
        errors=tuple(errors),
    )
    try:
        store.record_run(report)
    except StoreError as exc:
        report = replace(report, errors=(*report.errors, f"this run was not recorded: {exc}"))
    return report
