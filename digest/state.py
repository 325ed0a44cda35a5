"""What the store says about runs and subscribers, as values: status, health, the catch-up
rule, opt-outs (listed and undone), bounce pauses (listed and lifted). Reads only, except
`resubscribe` and `resume`; a store that no run has created yet reads as empty."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from digest.config.values import Config, split_listen
from digest.errors import StoreError
from digest.health import (
    Health,
    Status,
    SubscriberStatus,
    failing_streaks,
    healthy,
    run_summary,
    shared_summary,
)
from digest.models import Pause
from digest.store import Store, store_exists
from digest.store.connect import safe_url
from digest.timeutil import iso, to_text


@contextmanager
def existing_store(config: Config, held: Store | None = None) -> Iterator[Store | None]:
    """`held` as it is, else the config's store opened for this block and closed after it
    (None when no run has created it yet: nothing is created by looking)."""
    if held is not None:
        yield held
        return
    if not store_exists(config.store_url):
        yield None
        return
    store = Store(config.store_url, timeouts=config.store_timeouts)
    try:
        yield store
    finally:
        store.close()


def status(config: Config, runs: int = 5, *, store: Store | None = None) -> Status:
    """Recent runs, each subscriber's last delivery, papers stored, sources failing in a row
    (an empty status when no run has created the store yet), read from `store` when the
    caller holds one open."""
    reports: list[dict[str, object]] = []
    last: dict[str, tuple[str, int]] = {}
    papers = 0
    shared: list[dict[str, Any]] = []
    opted: dict[str, str] = {}
    paused: dict[str, Pause] = {}
    with existing_store(config, store) as found:
        if found is not None:
            reports = found.recent_runs(max(runs, config.settings.alerts.failures))
            last = found.last_deliveries()
            papers = found.count_papers()
            shared = found.recent_group_runs(runs) if found.remote else []
            opted = found.opted_out()
            paused = found.paused()
    streaks = failing_streaks(reports)
    threshold = config.settings.alerts.failures
    return Status(
        store=safe_url(config.store_url),
        runs=tuple(run_summary(r) for r in reports[:runs]),
        subscribers=tuple(
            SubscriberStatus(
                name=s.name,
                email=s.email,
                last_delivery=iso(last.get(s.email, (None, 0))[0]),
                papers_sent=last.get(s.email, (None, 0))[1],
                unsubscribed=iso(opted.get(s.email.casefold())),
                paused=_why(paused.get(s.email.casefold())),
            )
            for s in config.subscribers
        ),
        papers=papers,
        failing_sources={k: v for k, v in streaks.items() if v >= threshold},
        shared=tuple(shared_summary(row) for row in shared),
    )


def _why(pause: Pause | None) -> str | None:
    return pause.describe() if pause is not None else None


def health(config: Config, *, now: datetime, store: Store | None = None) -> Health:
    """Healthy when the store opens and reads and the newest run finished recently and
    reached at least one source."""
    try:
        return healthy(status(config, runs=1, store=store), now)
    except StoreError as exc:
        return Health(False, str(exc))


def health_check(config: Config, *, now: datetime) -> Health:
    """`health`, asked of the running [web] endpoint when there is one (so a container's
    HEALTHCHECK also sees the endpoint down), else read from the store directly."""
    web = config.settings.web
    if web is None:
        return health(config, now=now)
    import httpx

    host, port = split_listen(web.listen)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/healthz"
    try:
        answer = httpx.get(url, timeout=10)
        body = answer.json()
        return Health(bool(body.get("ok")), str(body.get("why", "")))
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        return Health(False, f"the web endpoint at {url} does not answer ({type(exc).__name__})")


def delivered_since(config: Config, members: Sequence[int], moment: datetime) -> bool:
    """Whether any of those subscribers got a digest at or after `moment` (catch-up rule)."""
    with existing_store(config) as store:
        last = store.last_deliveries() if store is not None else {}
    stamp = to_text(moment)
    emails = [config.subscribers[i].email for i in members]
    return any(e in last and last[e][0] >= stamp for e in emails)


@dataclass(frozen=True)
class SubscriberState:
    """A subscriber of the config and what they said through their link."""

    name: str
    email: str
    state: str  # "active" | "unsubscribed" | "paused"
    since: str | None = None
    liked: int = 0  # papers marked "more like this" (clicks; config seeds not counted)
    disliked: int = 0
    reason: str | None = None  # why paused: "hard bounce" or "5 soft bounces in 14 days, ..."
    status: str | None = None  # the bounce's status code ("5.1.1")


def subscribers(config: Config) -> list[SubscriberState]:
    """Every subscriber of the config, each active, unsubscribed or paused by bounces (since
    when, and why), with how many papers they liked and disliked."""
    with existing_store(config) as store:
        opted = store.opted_out() if store is not None else {}
        paused = store.paused() if store is not None else {}
        counts = store.feedback_counts() if store is not None else {}
    out = []
    for sub in config.subscribers:
        key = sub.email.casefold()
        liked, disliked = counts.get(key, (0, 0))
        state = SubscriberState(sub.name, sub.email, "active", None, liked, disliked)
        if key in opted:
            state = replace(state, state="unsubscribed", since=iso(opted[key]))
        elif key in paused:
            p = paused[key]
            state = replace(state, state="paused", since=iso(p.since), reason=p.reason)
            state = replace(state, status=p.status)
        out.append(state)
    return out


@dataclass(frozen=True)
class Feedback:
    """One paper a subscriber marked: +1 more like this, -1 less like this."""

    paper_id: str
    value: int
    at: str
    title: str


def feedback(config: Config, email: str, *, forget: bool = False) -> list[Feedback]:
    """What `email` said about papers, newest first; with `forget`, deleted (and returned)."""
    with existing_store(config) as store:
        if store is None:
            return []
        found = [Feedback(*row) for row in store.feedback_of(email)]
        if forget:
            store.forget_feedback(email)
        return found


def resume(config: Config, email: str) -> bool:
    """Lift the pause bounces put on `email` (and forget its bounces); False when it was not
    paused."""
    with existing_store(config) as store:
        return store.resume(email) if store is not None else False


def resubscribe(config: Config, email: str) -> bool:
    """Undo `email`'s opt-out; False when it had none."""
    with existing_store(config) as store:
        return store.opt_in(email) if store is not None else False
