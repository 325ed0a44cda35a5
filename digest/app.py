"""The library entry point: build a run from a config and call it; checks, previews and test
emails as typed values, and (from ``state``) status, health and subscribers. The CLI and the
service are thin layers over this module, and so is bench/deliver.py.

    report = asyncio.run(app.run(load_config("my.toml"), now=datetime.now(UTC)))
"""

from __future__ import annotations

import asyncio
import logging
import tempfile
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

from digest.bounces.read import BounceReport
from digest.config.values import Config
from digest.errors import MailboxError, StoreError
from digest.fetch import Fetcher
from digest.health import Health, Status
from digest.mail.deliver import FileOutbox, Outbox, SmtpOutbox
from digest.mail.render import make_environment
from digest.mail.sample import sample_digest
from digest.metrics import Metrics
from digest.models import FeedState, RunReport, Subscriber
from digest.ranking.semantic import Embedder
from digest.run.deliver import build
from digest.run.gather import fetch_and_decide
from digest.run.group import Group
from digest.run.once import run_once
from digest.state import (
    Feedback,
    SubscriberState,
    delivered_since,
    existing_store,
    feedback,
    health,
    health_check,
    resubscribe,
    resume,
    status,
    subscribers,
)
from digest.store import Store, dry_run_copy, store_exists

Progress = Callable[[int, int], None]
log = logging.getLogger("digest.service")

__all__ = [
    "Feedback",
    "Health",
    "Preview",
    "Runner",
    "SourceCheck",
    "Status",
    "SubscriberState",
    "check_smtp",
    "check_sources",
    "delivered_since",
    "feedback",
    "find_subscriber",
    "health",
    "health_check",
    "preview",
    "read_bounces",
    "resubscribe",
    "resume",
    "run",
    "send_test_email",
    "serve",
    "smtp_outbox",
    "status",
    "subscribers",
    "web",
]


def smtp_outbox(config: Config, *, retries: int | None = None) -> SmtpOutbox:
    """The SMTP outbox a config describes (`retries` overrides [smtp] retries)."""
    smtp = config.settings.smtp
    return SmtpOutbox(
        host=smtp.host,
        port=smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=config.smtp_password(),
        timeout=smtp.timeout,
        tls_context=config.tls_context,
        connections=smtp.connections,
        retries=smtp.retries if retries is None else retries,
        backoff=smtp.backoff,
        max_per_minute=smtp.max_per_minute,
    )


def fetcher(config: Config, *, retries: int | None = None) -> Fetcher:
    """The fetcher a config describes (`retries` overrides [fetch] retries)."""
    fetch = config.settings.fetch
    return Fetcher(
        contact=fetch.contact,
        timeout=fetch.timeout,
        max_bytes=fetch.max_bytes,
        retries=fetch.retries if retries is None else retries,
        backoff=fetch.backoff,
        concurrency=fetch.concurrency,
        deadline=fetch.deadline,
        allow_private=fetch.allow_private,
    )


def embedder(config: Config) -> Embedder | None:
    """The sentence embedder when semantic ranking is on: its model runs in a worker process
    of its own, started only when there is something new to embed."""
    if not config.semantic:
        return None
    from digest.ranking.semantic import WorkerEmbedder

    return WorkerEmbedder(str(config.model_dir) if config.model_dir else None)


class Runner:
    """One run's parts, each made once from a config: the outbox (SMTP, or .eml files for a
    dry-run), the embedder; the store and fetcher are opened by `run` for the run's length."""

    def __init__(self, config: Config, *, dry_run: bool = False, outbox_dir: Path | None = None):
        self.config = config
        self.dry_run = dry_run
        self.outbox_dir = outbox_dir or config.outbox
        self.outbox: Outbox = FileOutbox(self.outbox_dir) if dry_run else smtp_outbox(config)
        self.embedder = embedder(config)

    async def run(
        self,
        *,
        now: datetime,
        progress: Progress | None = None,
        stop: asyncio.Event | None = None,
        clock: Callable[[], datetime] | None = None,
        label: str = "all subscribers",
        fire: datetime | None = None,
        only: frozenset[str] | None = None,
        create: bool = True,
    ) -> RunReport:
        """One pass: fetch, store, rank, send, record (digest.run.once), given a store
        session and an outbox. A real run on SQLite holds the store's run lock; on
        PostgreSQL instances running the same group (`label` names it, `fire` is the moment
        a `serve` job is for) share its chunks. A dry-run leaves the store as it was (a
        throwaway copy, or a rolled-back transaction). Without `create` a missing SQLite
        store is a StoreError, not a new empty one."""
        settings = self.config.settings.store
        group = Group(label=label, fire=fire, failover=settings.failover_seconds)
        with tempfile.TemporaryDirectory(prefix="digest-dry-run-") as scratch, ExitStack() as out:
            timeouts = self.config.store_timeouts
            if self.dry_run:
                store = await asyncio.to_thread(  # copying and migrating block: off the loop
                    dry_run_copy, self.config.store_url, Path(scratch), timeouts=timeouts
                )
            else:
                store = await asyncio.to_thread(
                    Store, self.config.store_url, timeouts=timeouts, create=create
                )
            out.callback(store.close)
            if not self.dry_run:
                out.enter_context(store.run_lock())
            async with fetcher(self.config) as fetch:
                return await run_once(
                    self.config,
                    now=now,
                    store=store,
                    outbox=self.outbox,
                    fetcher=fetch,
                    group=group,
                    clock=clock or (lambda: datetime.now(UTC)),
                    embedder=self.embedder,
                    progress=progress,
                    stop=stop,
                    only=only,
                )


async def run(
    config: Config,
    *,
    now: datetime,
    dry_run: bool = False,
    outbox_dir: Path | None = None,
    progress: Progress | None = None,
    stop: asyncio.Event | None = None,
) -> RunReport:
    """One pass over every source and subscriber of `config`; failures are in the report."""
    runner = Runner(config, dry_run=dry_run, outbox_dir=outbox_dir)
    return await runner.run(now=now, progress=progress, stop=stop)


# -- previews and test emails -----------------------------------------------------------------


@dataclass(frozen=True)
class Preview:
    """One subscriber's next digest as files (None when nothing new), and failed sources."""

    subscriber: Subscriber
    html: Path | None
    eml: Path | None
    failed_sources: tuple[tuple[str, str], ...]


def find_subscriber(config: Config, who: str) -> int | None:
    """The position of the subscriber named `who` (or with that email), if any."""
    for i, sub in enumerate(config.subscribers):
        if who in (sub.name, sub.email):
            return i
    return None


async def preview(
    config: Config, index: int, *, folder: Path, offline: bool, now: datetime
) -> Preview:
    """Subscriber `index`'s next digest, written to an .eml and an .html file in `folder` by
    a dry-run of the whole config (so it is ranked exactly as a send would rank it) that
    delivers to that subscriber alone; changes no state."""
    everyone = config.narrowed(range(len(config.subscribers)), sources=() if offline else None)
    sub = config.subscribers[index]
    runner = Runner(everyone, dry_run=True, outbox_dir=folder)
    report = await runner.run(now=now, only=frozenset({sub.email}))
    failures = tuple((s.name, s.error or "failed") for s in report.sources if s.status == "failed")
    delivery = next((d for d in report.deliveries if d.email == sub.email), None)
    if delivery is None or delivery.status != "written" or delivery.location is None:
        return Preview(subscriber=sub, html=None, eml=None, failed_sources=failures)
    eml = Path(delivery.location)
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    body = message.get_body(("html",)) if isinstance(message, EmailMessage) else None
    html = eml.with_suffix(".html")
    html.write_text(str(body.get_content()) if body is not None else "", encoding="utf-8")
    return Preview(subscriber=sub, html=html, eml=eml, failed_sources=failures)


async def send_test_email(config: Config, address: str, *, now: datetime) -> str:
    """Send the built-in sample digest to `address`; the server's reply (DeliveryError when
    it was not accepted). Touches no state."""
    digest = sample_digest(name="Paper Digest test", email=address, day=now.date())
    message = build(config, digest, make_environment(config.templates), now=now).message
    async with smtp_outbox(config, retries=0) as outbox:  # one attempt: a person is waiting
        return await outbox.send(message)


# -- checks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceCheck:
    """One source fetched once by `digest check`: how many papers it listed, or why not."""

    name: str
    papers: int = 0
    error: str | None = None


async def check_smtp(config: Config) -> str:
    """Log in to the SMTP server as configured; its greeting (DeliveryError if it fails)."""
    async with smtp_outbox(config) as outbox:
        return await outbox.check()


async def check_sources(config: Config, *, now: datetime) -> list[SourceCheck]:
    """Fetch every source once (no retries, no validators) through the same decider as a
    run; nothing is stored."""
    out = []
    async with fetcher(config, retries=0) as fetch:
        for source in config.sources:
            decision = await fetch_and_decide(source, FeedState(), fetcher=fetch, day=now.date())
            out.append(SourceCheck(source.name, decision.listed, decision.error))
    return out


async def serve(config: Config, *, on_report: Callable[[RunReport], None]) -> None:
    """Run every schedule group's digests on time until SIGTERM or SIGINT; each run's report
    goes to `on_report`."""
    from digest.service import serve as schedule

    # once the store exists, a run never starts an empty one where it disappeared (opt-outs
    # and the sent ledger would be lost, and everyone mailed again): it fails with a line
    seen = [store_exists(config.store_url)]

    metrics = Metrics()

    async def run_group(
        members: list[int], stop: asyncio.Event, label: str, fire: datetime | None
    ) -> None:
        runner = Runner(config.narrowed(members))
        metrics.run_started(label)
        report = await runner.run(
            now=datetime.now(UTC), stop=stop, label=label, fire=fire, create=not seen[0]
        )
        seen[0] = seen[0] or store_exists(config.store_url)
        metrics.run_finished(label, report)
        metrics.paused.set(await asyncio.to_thread(paused_count, config))
        on_report(report)

    async def bounces() -> None:
        found = await asyncio.to_thread(read_bounces, config, now=datetime.now(UTC))
        if found.note:  # before the first run: nothing to pause yet
            log.info("bounce mailbox: not read: %s", found.note)
            return
        metrics.bounces_read(found.hard, found.soft, found.ignored)
        metrics.paused.set(await asyncio.to_thread(paused_count, config))
        for pause in found.paused:
            log.warning("paused %s: %s", pause.email, pause.describe())
        if found.error:
            log.error("bounce mailbox: %s", found.error)
        elif found.read:
            log.info(
                "bounce mailbox: %d read: %d hard, %d soft, %d ignored",
                found.read,
                found.hard,
                found.soft,
                found.ignored,
            )

    reading = config.settings.bounces
    await schedule(
        config,
        run_group,
        delivered_since=lambda m, t: delivered_since(config, m, t),
        web=(lambda stop: web(config, stop, metrics)) if config.settings.web is not None else None,
        every=((reading.every_minutes * 60.0, bounces),) if reading.host else (),
    )


def paused_count(config: Config) -> int:
    """How many of the config's subscribers bounces paused (0 before the first run)."""
    with existing_store(config) as store:
        paused = store.paused() if store is not None else {}
    return sum(1 for s in config.subscribers if s.email.casefold() in paused)


def read_bounces(config: Config, *, now: datetime) -> BounceReport:
    """Read the [bounces] mailbox once into the store. A store no run has made yet is the
    report's note (nothing read); an unreachable mailbox or a store failure its error; never
    raised."""
    from digest.bounces.read import read_mailbox

    if config.settings.bounces.verp_domain:
        config.require_link_secret()  # the VERP tags are signed with it
    with existing_store(config) as store:
        if store is None:
            return BounceReport(note="no run has created the store yet: nothing to pause")
        try:
            return read_mailbox(config, store, now=now)
        except (MailboxError, StoreError) as exc:
            return BounceReport(error=str(exc))


async def web(config: Config, stop: asyncio.Event, metrics: Metrics | None = None) -> None:
    """Answer subscriber links ([web]) and /metrics until `stop` is set."""
    from digest.web.server import serve_web

    await serve_web(config, stop, metrics=metrics)
