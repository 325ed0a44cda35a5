"""One reading of the bounce mailbox: each message not yet processed is read, its bounces
recorded (pausing addresses as the rules say), and only then marked processed; blocking
(the service runs it in a worker thread)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from digest.bounces.mailbox import Mailbox
from digest.bounces.parse import Reading, read_bounce
from digest.bounces.verp import Verp
from digest.config.values import Config
from digest.errors import MailboxError, StoreError
from digest.models import Bounce, Pause
from digest.store import Store

log = logging.getLogger("digest.bounces")


@dataclass(frozen=True)
class BounceReport:
    """What one reading found: messages read, bounces by kind, messages that counted for
    nothing, the addresses it paused, and the error that ended it early, if one did."""

    read: int = 0
    hard: int = 0
    soft: int = 0
    ignored: int = 0
    paused: tuple[Pause, ...] = ()
    error: str | None = None
    why_ignored: tuple[str, ...] = ()  # "message 12: not a bounce (...)", one per ignored
    note: str | None = None  # why the mailbox was not read at all, when that is no failure


def verp_reader(config: Config) -> Verp | None:
    """What reads VERP addresses back, when [bounces] verp_domain is set."""
    domain = config.settings.bounces.verp_domain
    if not domain or config.web_secret is None:
        return None
    return Verp(config.web_secret, domain, (s.email for s in config.subscribers))


def record(config: Config, store: Store, bounce: Bounce, *, now: datetime) -> Pause | None:
    """Keep one bounce under the config's soft-bounce rule; the pause it made, if any."""
    rules = config.settings.bounces
    pause = store.record_bounce(
        bounce, now=now, soft_limit=rules.soft_limit, soft_days=rules.soft_days
    )
    if pause is not None:
        log.warning("paused %s: %s", bounce.email, pause.reason)
    return pause


def _read(data: bytes, subscribers: dict[str, str], verp: Verp | None) -> Reading:
    """`read_bounce`, and a message that breaks a parser is one more ignored message."""
    try:
        return read_bounce(data, subscribers, verp)
    except Exception as exc:  # hostile input must not end the reading
        log.debug("a bounce message could not be parsed", exc_info=True)
        return Reading(ignored=f"unreadable ({type(exc).__name__})")


def read_mailbox(config: Config, store: Store, *, now: datetime) -> BounceReport:
    """Read the [bounces] mailbox once; MailboxError when it cannot be reached at all."""
    subscribers = {s.email.casefold(): s.email for s in config.subscribers}
    verp = verp_reader(config)
    read = hard = soft = ignored = 0
    paused: list[Pause] = []
    why: list[str] = []
    error = None
    with Mailbox(config) as box:
        box.prepare()
        for uid in box.unprocessed():
            try:
                reading = _read(box.fetch(uid), subscribers, verp)
                for bounce in reading.bounces:  # kept (a second sight counts once)...
                    pause = record(config, store, bounce, now=now)
                    paused += [pause] if pause is not None else []
                    hard += bounce.kind == "hard"
                    soft += bounce.kind == "soft"
                read += 1
                if reading.ignored:
                    ignored += 1
                    why.append(f"message {uid.decode()}: {reading.ignored}")
                    log.info("bounce mailbox: %s ignored", why[-1])
                box.done(uid)  # ...before it is marked processed: a failure reads it again
            except (MailboxError, StoreError) as exc:
                error = str(exc)
                break
    return BounceReport(read, hard, soft, ignored, tuple(paused), error, tuple(why))
