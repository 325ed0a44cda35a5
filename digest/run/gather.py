"""A run's sources: fetch each (conditional on what was kept of it), let the decider say what
it means, store what it says to; and the alert email when a source keeps failing."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import date, datetime

from digest.config.values import Config
from digest.decide import Decision, decide, due_alerts, failed
from digest.errors import DeliveryError, SourceError, StoreError
from digest.fetch import Fetcher
from digest.health import failing_streaks
from digest.mail.compose import alert_message
from digest.mail.deliver import Outbox
from digest.models import FeedState, SourceOutcome
from digest.sources.base import SourceSettings
from digest.store import Store

log = logging.getLogger("digest.run")


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
        # parsing a large listing takes a while: in a thread, so the event loop keeps
        # answering (decide is pure)
        return await asyncio.to_thread(decide, source, fetched, state, location=location)
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
