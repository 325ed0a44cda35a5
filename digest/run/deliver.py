"""Sending a run's digests: render, compose, send and record each, never more on the wire
than the outbox has connections, and stop cleanly when told to."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from jinja2 import Environment, TemplateError

from digest.bounces import verp
from digest.bounces.read import record as record_bounce
from digest.config.values import Config
from digest.errors import DeliveryError, StoreError
from digest.mail.compose import Addressing, Outgoing, compose, outgoing
from digest.mail.deliver import Outbox
from digest.mail.render import render_digest, template_problem, unsubscribe_links
from digest.models import Bounce, BounceKind, DeliveryOutcome, Digest, Sent, Subscriber
from digest.run.plan import Planned
from digest.run.record import Recorder
from digest.store import Store
from digest.web.links import digest_links

log = logging.getLogger("digest.run")


@dataclass(frozen=True)
class Built:
    """One digest's message bytes, the HTML they carry (kept for "View in browser") and the
    ids of every paper the email lists."""

    message: Outgoing
    html: str
    paper_ids: tuple[str, ...]


def build(config: Config, digest: Digest, env: Environment, *, now: datetime) -> Built:
    """Render and compose one digest with the config's sender, unsubscribe links and List-Id.
    With [web] the digest carries its own signed one-click unsubscribe link (first in
    List-Unsubscribe; mailto: ones stay beside it) and its "View in browser" link."""
    email = config.settings.email
    sub = digest.subscriber
    ids = tuple(s.paper.id for s in (*digest.papers, *digest.more))
    unsubscribe = unsubscribe_links(email.unsubscribe, sub.email)
    to = Addressing(
        email.sender, sub.name, sub.email, digest.day, ids, now, unsubscribe, email.list_id
    )
    shown = tuple(s.paper.id for s in digest.papers)
    links = digest_links(config, sub.email, to.message_id, now=now, papers=shown)
    if links is not None:  # the Message-ID is carried over, not derived again
        mailto = tuple(u for u in unsubscribe if u.lower().startswith("mailto:"))
        # one-click (List-Unsubscribe-Post) only for https links: allow_http drops it
        one_click = links.unsubscribe.lower().startswith("https://")
        to = replace(to, unsubscribe=(links.unsubscribe, *mailto), one_click=one_click)
    rendered = render_digest(
        digest,
        env,
        unsubscribe=to.unsubscribe,
        view=links.view if links else None,
        feedback=links.feedback if links else None,
    )
    page = rendered.page or rendered.html
    message = outgoing(compose(rendered, to))
    domain = config.settings.bounces.verp_domain
    if domain and config.web_secret is not None:  # bounces come back naming the subscriber
        message = replace(message, sender=verp.address(config.web_secret, sub.email, domain))
    return Built(message=message, html=page, paper_ids=ids)


class Halt(asyncio.Event):
    """Set when sending must stop (a shutdown, a failed ledger write), with the reason."""

    why = ""

    def stop(self, why: str) -> None:
        """Stop sending, keeping the first reason given."""
        if not self.is_set():
            self.why = why
            self.set()


async def relay_stop(stop: asyncio.Event, halt: Halt) -> None:
    """A shutdown halts sending at once, for the digests already waiting their turn too."""
    await stop.wait()
    halt.stop("stopped sending: shutting down")


Fence = Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class Sending:
    """What every digest of one `send_all` shares: where it goes, how it is recorded, the
    wire bound, the halt signal, and the fence that confirms this instance still owns what
    it sends (StoreError when it does not)."""

    config: Config
    env: Environment
    store: Store
    outbox: Outbox
    now: datetime
    halt: Halt
    cursor: int | None
    wire: asyncio.Semaphore
    recorder: Recorder
    fence: Fence | None = None


async def deliver_one(
    subscriber: Subscriber, digest: Digest | None, run: Sending
) -> DeliveryOutcome:
    """Render, send and record one subscriber's digest (nothing, once the run is halted)."""
    base = DeliveryOutcome(subscriber=subscriber.name, email=subscriber.email, status="nothing-new")
    if digest is None:
        return base
    try:
        built = build(run.config, digest, run.env, now=run.now)
    except TemplateError as exc:
        return replace(base, status="failed", error=template_problem(exc))
    except Exception as exc:  # one digest that cannot be built never stops the others
        log.debug("building the digest for %s failed", subscriber.email, exc_info=True)
        return replace(base, status="failed", error=f"cannot build it ({type(exc).__name__})")
    ids, mid, halt = built.paper_ids, built.message.message_id, run.halt
    async with run.wire:
        # on the wire now (at most `connections` digests are): sent, then recorded
        if run.fence is not None and not halt.is_set():
            try:  # still ours? a stalled instance that lost its session stops here
                await run.fence()
            except StoreError as exc:
                halt.stop(f"stopped sending: {exc}")
        if halt.is_set():  # sending stopped while this one waited
            return replace(base, status="stopped", papers=digest.total, error=halt.why)
        try:
            location = await run.outbox.send(built.message)
        except DeliveryError as exc:  # the run report says it, once
            failed = replace(
                base, status="failed", papers=digest.total, message_id=mid, error=str(exc)
            )
            return _bounced(run, failed, exc) if exc.bounce else failed
        page = built.html if run.config.settings.web is not None else None
        try:  # batched with the other digests accepted meanwhile (see digest.run.record)
            await run.recorder.record(
                Sent(subscriber.email, ids, mid, run.now, run.now, run.cursor, page)
            )
        except StoreError as exc:
            # sent but not remembered: it may go out once more next run: send nothing new
            halt.stop(f"stopped sending: the store cannot record deliveries ({exc})")
            log.error("sent %s to %s but could not record it: %s", mid, subscriber.email, exc)
            return replace(
                base, status="unrecorded", papers=digest.total, message_id=mid, error=str(exc)
            )
    log.info("sent %s to %s: %d papers", mid, subscriber.email, len(ids))
    return replace(
        base,
        status="written" if run.outbox.dry_run else "sent",
        papers=digest.total,  # the count its Subject gives
        message_id=mid,
        location=location,
    )


def _bounced(run: Sending, failed: DeliveryOutcome, exc: DeliveryError) -> DeliveryOutcome:
    """The address was refused at RCPT TO: keep the bounce (a real run only), pausing the
    address after a hard one (or enough soft ones)."""
    kind: BounceKind = "hard" if exc.permanent else "soft"
    failed = replace(failed, bounce=kind)
    if run.outbox.dry_run:
        return failed
    email = failed.email
    bounce = Bounce(email, kind, exc.bounce or "", "smtp", failed.message_id or email)
    try:
        pause = record_bounce(run.config, run.store, bounce, now=run.now)
    except StoreError as exc_store:
        log.error("%s bounced (%s) but the store cannot keep it: %s", email, kind, exc_store)
        return failed
    if pause is None:
        return failed
    return replace(failed, paused=pause.describe())


async def send_all(
    config: Config,
    work: Iterable[Planned],
    *,
    env: Environment,
    store: Store,
    outbox: Outbox,
    now: datetime,
    halt: Halt,
    cursor: int | None,
    fence: Fence | None = None,
    progress: Callable[[], None] | None = None,
    stop: asyncio.Event | None = None,
) -> tuple[list[DeliveryOutcome], set[str]]:
    """Deliver each planned digest of `work` (templates from `env`, made once per run so
    every chunk shares the cards rendered so far); (outcomes, addresses served)."""
    served: set[str] = set()
    # Render the next digests while earlier ones are on the wire; never more in flight than
    # the outbox has connections for (twice, so a connection never waits idle)...
    slots = asyncio.Semaphore(max(1, outbox.concurrency * 2))
    run = Sending(
        config=config,
        env=env,
        store=store,
        outbox=outbox,
        now=now,
        halt=halt,
        cursor=cursor,
        # ...but never more digests on the wire (sent, not yet recorded) than connections:
        # that bounds what a crash can send twice, and a stop reaches every digest in line
        wire=asyncio.Semaphore(max(1, outbox.concurrency)),
        recorder=Recorder(store),  # digests accepted together share one ledger transaction
        fence=fence,
    )
    tasks: list[asyncio.Task[DeliveryOutcome]] = []

    def finished(_: asyncio.Task[DeliveryOutcome]) -> None:
        slots.release()
        if progress is not None:
            progress()

    for subscriber, digest in work:
        await slots.acquire()
        if stop is not None and stop.is_set():
            halt.stop("stopped sending: shutting down")
        if halt.is_set():
            slots.release()  # finish what is in flight, start nothing new
            break
        served.add(subscriber.email)
        task = asyncio.create_task(deliver_one(subscriber, digest, run))
        task.add_done_callback(finished)
        tasks.append(task)
    return list(await asyncio.gather(*tasks)), served
