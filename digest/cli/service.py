"""`serve`, `check` and `status`: parse options, call digest.app, print, exit."""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.options import EXIT_FAILURES, config_option, load
from digest.cli.report import format_report, plural

if TYPE_CHECKING:
    pass

log = logging.getLogger("digest.cli")


@click.command()
@config_option
def serve(config_path: Path) -> None:
    """Send each schedule group's digests on time until SIGTERM or SIGINT (then exit 0)."""
    from digest import app
    from digest.models import RunReport

    config = load(config_path, links=True).require_metrics_token()

    def on_report(report: RunReport) -> None:
        for line in format_report(report):
            log.info("%s", line.strip())

    asyncio.run(app.serve(config, on_report=on_report))


@click.command()
@config_option
@click.option(
    "--smtp",
    "login",
    is_flag=True,
    help="Also connect to the SMTP relay: EHLO, TLS and login, no MAIL FROM (10 s at most).",
)
@click.option(
    "--dry-run",
    "dry_run",
    is_flag=True,
    help="Check only what `run --dry-run` needs (no [smtp] table or SMTP password).",
)
def check(config_path: Path, login: bool, dry_run: bool) -> None:
    """Check everything a run depends on, sending and storing nothing: the config, the
    secrets it names, [smtp], each source (fetched once), the store (opened, a write rolled
    back; never created), the templates, the [bounces] mailbox (logged into). Lists sources,
    subscribers and each schedule group's next send times. Exit 1 when a check failed (one
    line each: what to fix)."""
    from digest.checks import Check, run_checks
    from digest.schedule import group_slots, next_sends

    config = load(config_path)
    now = datetime.now(UTC)
    click.echo(f"config ok: {config.path}")
    click.echo(f"sources ({len(config.sources)}):")
    for source in config.sources:
        click.echo(f"  {source.name} [{source.type}] {source.location(now.date())}")
    click.echo(f"subscribers ({len(config.subscribers)}):")
    for sub, slot in zip(config.subscribers, config.slots, strict=True):
        click.echo(f"  {sub.name} <{sub.email}>: {', '.join(sub.keywords)} ({slot.label()})")
    click.echo("schedule:")
    for slot, members in group_slots(config.slots).items():
        times = ", ".join(t.isoformat() for t in next_sends(slot, now, 3))
        click.echo(f"  {slot.label()} ({plural(len(members), 'subscriber')}): next {times}")

    def show(check: Check) -> None:
        if check.warning:
            click.echo(f"warning: {check.what}: {check.warning}")
        elif check.ok:
            click.echo(f"ok: {check.what}: {check.found}")
        else:
            click.echo(f"failed: {check.what}: {check.problem}")

    checks = asyncio.run(run_checks(config, now=now, dry_run=dry_run, login=login, report=show))
    failed = [c for c in checks if not c.ok]
    click.echo(f"{plural(len(failed), 'check')} failed" if failed else "all checks passed")
    if failed:
        raise SystemExit(EXIT_FAILURES)


@click.command()
@config_option
@click.option("--json", "as_json", is_flag=True, help="Print the status as JSON.")
@click.option("--runs", default=5, show_default=True, help="How many recent runs to show.")
@click.option("--healthy", "health", is_flag=True, help="Exit 0 when healthy, 1 otherwise.")
def status(config_path: Path, as_json: bool, runs: int, health: bool) -> None:
    """Recent runs, each subscriber's last delivery, papers stored, sources failing in a row."""
    from digest import app

    config = load(config_path)
    if health:
        verdict = app.health_check(config, now=datetime.now(UTC))
        click.echo(f"{'healthy' if verdict.ok else 'unhealthy'}: {verdict.why}")
        raise SystemExit(0 if verdict.ok else EXIT_FAILURES)
    state = app.status(config, runs)
    if as_json:
        click.echo(json.dumps(asdict(state), indent=2, default=str))
        return
    click.echo(f"store: {state.store} ({plural(state.papers, 'paper')})")
    click.echo("recent runs:" if state.runs else "recent runs: none yet")
    for r in state.runs:
        click.echo(
            f"  {r.started[:19]}  sources ok {r.sources_ok}, stale {r.sources_stale}, "
            f"failed {r.sources_failed}; emails sent {r.emails_sent}, failed "
            f"{r.emails_failed}; {plural(r.new_papers, 'new paper')}; "
            f"sending {r.sending_seconds:.1f} s" + (f"; by {r.instance}" if r.instance else "")
        )
    if state.shared:
        click.echo("group runs (instances on one database):")
    for g in state.shared:
        done = ", ".join(f"{who} {n}" for who, n in sorted(g.done.items())) or "none yet"
        click.echo(
            f"  run {g.id} [{g.label}] {g.state}, opened by {g.leader}, started {g.started}"
            + (f", finished {g.finished}" if g.finished else "")
            + f"; chunks done {g.chunks_done}/{g.chunks}: {done}"
        )
        for part, who in g.held:
            click.echo(f"    {part}: held by {who}")
    click.echo("subscribers:")
    for s in state.subscribers:
        when = s.last_delivery or "never"
        gone = f"; unsubscribed since {s.unsubscribed}" if s.unsubscribed else ""
        gone += f"; PAUSED: {s.paused}" if s.paused else ""
        click.echo(
            f"  {s.name} <{s.email}>: last delivery {when}, "
            f"{plural(s.papers_sent, 'paper')} sent{gone}"
        )
    for name, streak in state.failing_sources.items():
        click.echo(f"FAILING: source {name} failed {streak} runs in a row")
