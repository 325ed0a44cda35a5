"""The service-side commands: serve, check and status (registered on the main CLI group)."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from digest.cli_options import config_option
from digest.config import Config, load_config
from digest.endpoints import endpoint, parse
from digest.errors import DeliveryError, DigestError
from digest.fetch import Fetcher
from digest.health import failing_streaks, run_summary
from digest.schedule import group_slots, next_sends
from digest.service import serve as run_service
from digest.store import Store

log = logging.getLogger("digest.cli")
HEALTHY_WITHIN_HOURS = 48


def _narrow(config: Config, members: list[int]) -> Config:
    subs = tuple(config.settings.subscribers[i] for i in members)
    return Config(
        path=config.path, settings=config.settings.model_copy(update={"subscribers": subs})
    )


@click.command()
@config_option
def serve(config_path: Path) -> None:
    """Send each schedule group's digests on time until SIGTERM or SIGINT (then exit 0)."""
    from digest.cli import _run, format_report  # the composition root's real objects

    config = load_config(config_path)

    async def run_group(members: list[int], stop: asyncio.Event) -> None:
        report = await _run(
            _narrow(config, members),
            now=datetime.now(UTC),
            dry_run=False,
            outbox_dir=config.outbox,
            stop=stop,
        )
        for line in format_report(report):
            log.info("%s", line.strip())

    def delivered_since(members: list[int], moment: datetime) -> bool:
        if config.store_missing():
            return False
        store = Store(config.store_url)
        try:
            last = store.last_deliveries()
        finally:
            store.close()
        stamp = moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        emails = [config.settings.subscribers[i].email for i in members]
        return any(e in last and last[e][0] >= stamp for e in emails)

    asyncio.run(run_service(config, run_group, delivered_since=delivered_since))


@click.command()
@config_option
@click.option("--connect", is_flag=True, help="Also log in to SMTP and fetch each source once.")
def check(config_path: Path, connect: bool) -> None:
    """Validate the config; list sources, subscribers and the next send times of each schedule
    group; with --connect, try SMTP and every source (no state is changed)."""
    config = load_config(config_path)
    now = datetime.now(UTC)
    settings = config.settings
    click.echo(f"config ok: {config.path}")
    click.echo(f"sources ({len(settings.sources)}):")
    for source in settings.sources:
        click.echo(f"  {source.name} [{source.type}] {endpoint(config, source, now=now)}")
    click.echo(f"subscribers ({len(settings.subscribers)}):")
    for i, sub in enumerate(settings.subscribers):
        click.echo(
            f"  {sub.name} <{sub.email}>: {', '.join(sub.keywords)} ({config.slot(i).label()})"
        )
    click.echo("schedule:")
    slots = [config.slot(i) for i in range(len(settings.subscribers))]
    for slot, members in group_slots(slots).items():
        times = ", ".join(t.isoformat() for t in next_sends(slot, now, 3))
        click.echo(f"  {slot.label()} ({len(members)} subscribers): next {times}")
    if connect and not asyncio.run(_connect(config, now)):
        raise SystemExit(1)


async def _connect(config: Config, now: datetime) -> bool:
    from digest.cli import smtp_outbox

    ok = True
    try:
        async with smtp_outbox(config) as outbox:
            reply = await outbox.check()
        click.echo(f"smtp ok: {reply}")
    except (DeliveryError, DigestError) as exc:
        click.echo(f"smtp failed: {exc}")
        ok = False
    fetch = config.settings.fetch
    async with Fetcher(
        contact=fetch.contact, timeout=fetch.timeout, max_bytes=fetch.max_bytes, retries=0
    ) as fetcher:
        for source in config.settings.sources:
            url = endpoint(config, source, now=now)
            try:
                fetched = await fetcher.fetch(url, source=source.name)
                if fetched.http_status is not None and fetched.http_status >= 400:
                    raise DigestError(f"HTTP {fetched.http_status}")
                listing = parse(source, fetched.body)
                click.echo(f"source ok: {source.name}: {len(listing.papers)} papers")
            except DigestError as exc:
                click.echo(f"source failed: {source.name}: {exc}")
                ok = False
    return ok


def _status(config: Config, runs: int) -> dict[str, Any]:
    url = config.store_url
    reports: list[dict[str, Any]] = []
    last: dict[str, tuple[str, int]] = {}
    papers = 0
    if not config.store_missing():
        store = Store(url)
        try:
            reports = store.recent_runs(max(runs, config.settings.alerts.failures))
            last = store.last_deliveries()
            papers = store.count_papers()
        finally:
            store.close()
    streaks = failing_streaks(reports)
    threshold = config.settings.alerts.failures
    return {
        "store": url,
        "runs": [run_summary(r) for r in reports[:runs]],
        "subscribers": [
            {
                "name": s.name,
                "email": s.email,
                "last_delivery": last.get(s.email, (None, 0))[0],
                "papers_sent": last.get(s.email, (None, 0))[1],
            }
            for s in config.settings.subscribers
        ],
        "papers": papers,
        "failing_sources": {k: v for k, v in streaks.items() if v >= threshold},
    }


def healthy(status: dict[str, Any], now: datetime) -> tuple[bool, str]:
    """Healthy: the store reads, and the newest run (if any) finished recently and reached
    at least one source."""
    runs = status["runs"]
    if not runs:
        return True, "no runs yet"
    newest = runs[0]
    finished = datetime.strptime(newest["finished"][:19], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    age = (now - finished).total_seconds() / 3600
    if age > HEALTHY_WITHIN_HOURS:
        return False, f"newest run finished {age:.0f} h ago"
    if newest["sources_ok"] + newest["sources_stale"] == 0 and newest["sources_failed"]:
        return False, "every source failed in the newest run"
    return True, f"newest run {age:.1f} h ago"


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--runs", default=5, show_default=True, help="How many recent runs to show.")
@click.option("--healthy", "health", is_flag=True, help="Exit 0 when healthy, 1 otherwise.")
def status(config_path: Path, as_json: bool, runs: int, health: bool) -> None:
    """Recent runs, each subscriber's last delivery, papers stored, sources failing in a row."""
    config = load_config(config_path)
    state = _status(config, runs)
    if health:
        ok, why = healthy(state, datetime.now(UTC))
        click.echo(f"{'healthy' if ok else 'unhealthy'}: {why}")
        raise SystemExit(0 if ok else 1)
    if as_json:
        click.echo(json.dumps(state, indent=2, default=str))
        return
    click.echo(f"store: {state['store']} ({state['papers']} papers)")
    click.echo("recent runs:" if state["runs"] else "recent runs: none yet")
    for r in state["runs"]:
        click.echo(
            f"  {r['started'][:19]}  sources ok {r['sources_ok']}, stale {r['sources_stale']}, "
            f"failed {r['sources_failed']}; emails sent {r['emails_sent']}, failed "
            f"{r['emails_failed']}; {r['new_papers']} new papers; "
            f"sending {r['sending_seconds']:.1f} s"
        )
    click.echo("subscribers:")
    for s in state["subscribers"]:
        when = s["last_delivery"] or "never"
        click.echo(
            f"  {s['name']} <{s['email']}>: last delivery {when}, {s['papers_sent']} papers sent"
        )
    for name, streak in state["failing_sources"].items():
        click.echo(f"FAILING: source {name} failed {streak} runs in a row")
