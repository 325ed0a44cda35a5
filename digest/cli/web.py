"""`web` (the subscriber link endpoint alone), `subscribers` (who is active, who
unsubscribed through their link, who is paused by bounces; undo an opt-out, lift a pause),
`feedback` and `bounces` (read the bounce mailbox once)."""

from __future__ import annotations

import asyncio
import json
import signal
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from digest.cli.options import EXIT_FAILURES, EXIT_USAGE, config_option, load

if TYPE_CHECKING:
    from digest.config.values import Config


@click.command()
@config_option
def web(config_path: Path) -> None:
    """Answer subscriber links ([web]: unsubscribe, view in browser, /healthz) until SIGTERM
    or SIGINT, without sending anything (for a host that only serves links)."""
    from digest import app

    config = load(config_path, links=True).require_metrics_token()
    if config.settings.web is None:
        click.echo(f"digest: {config.path}: web: expected a [web] table, found none", err=True)
        raise SystemExit(EXIT_USAGE)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await app.web(config, stop)

    asyncio.run(main())


optional_config = click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The TOML config file.",
)


def _config_path(*given: Path | None) -> Path:
    for path in given:
        if path is not None:
            return path
    raise click.UsageError("Missing option '--config'.")


@click.group(invoke_without_command=True)
@optional_config
@click.option("--json", "as_json", is_flag=True, help="One JSON object per subscriber.")
@click.pass_context
def subscribers(ctx: click.Context, config_path: Path | None, as_json: bool) -> None:
    """List every subscriber: active, unsubscribed (through their link) since when, or
    paused by bounces (why, since when, the status code)."""
    ctx.obj = config_path
    if ctx.invoked_subcommand is not None:
        return
    from digest import app

    states = app.subscribers(load(_config_path(config_path)))
    if as_json:
        click.echo(json.dumps([asdict(s) for s in states], indent=2))
        return
    for s in states:
        since = f" since {s.since}" if s.since else ""
        votes = f"; liked {s.liked}, disliked {s.disliked}" if s.liked or s.disliked else ""
        if s.reason:  # paused: why and the day, as the run report says it
            since = f" ({s.reason} on {(s.since or '')[:10]})"
        click.echo(f"{s.name} <{s.email}>: {s.state}{since}{votes}")


@subscribers.command()
@click.argument("email")
@optional_config
@click.pass_obj
def resubscribe(group_config: Path | None, email: str, config_path: Path | None) -> None:
    """Undo EMAIL's opt-out: the next run sends it digests again."""
    from digest import app

    config = load(_config_path(config_path, group_config))
    if app.resubscribe(config, email):
        click.echo(f"{email}: subscribed again")
        return
    why = _not_here(config, email) or "was not unsubscribed"
    click.echo(f"{email}: {why}; nothing changed", err=True)
    raise SystemExit(EXIT_FAILURES)


@subscribers.command()
@click.argument("email")
@optional_config
@click.pass_obj
def resume(group_config: Path | None, email: str, config_path: Path | None) -> None:
    """Lift the pause bounces put on EMAIL (its bounces are forgotten): the next run mails
    it again."""
    from digest import app

    config = load(_config_path(config_path, group_config))
    if app.resume(config, email):
        click.echo(f"{email}: resumed; the next run mails it again")
        return
    why = _not_here(config, email) or "was not paused"
    click.echo(f"{email}: {why}; nothing changed", err=True)
    raise SystemExit(EXIT_FAILURES)


def _not_here(config: Config, email: str) -> str | None:
    """'not a subscriber of <config>' when no subscriber has that address."""
    if any(s.email.casefold() == email.casefold() for s in config.subscribers):
        return None
    return f"not a subscriber of {config.path}"


@click.command()
@config_option
def bounces(config_path: Path) -> None:
    """Read the [bounces] IMAP mailbox once: record each bounce (hard ones, and soft ones
    past the limit, pause their address) and mark the messages read as processed."""
    from digest import app

    config = load(config_path)
    if not config.settings.bounces.host:
        click.echo(
            f"digest: {config.path}: bounces.host: expected the IMAP host bounces arrive at, "
            "found none",
            err=True,
        )
        raise SystemExit(EXIT_USAGE)
    report = app.read_bounces(config, now=datetime.now(UTC))
    if report.note:
        click.echo(f"bounces: not read: {report.note}")
        return
    if report.read or not report.error:
        click.echo(
            f"bounces: {report.read} messages read: {report.hard} hard, {report.soft} soft, "
            f"{report.ignored} ignored"
        )
    for pause in report.paused:
        click.echo(f"  paused {pause.email}: {pause.describe()}")
    for why in report.why_ignored:
        click.echo(f"  ignored {why}")
    if report.error:
        click.echo(f"error: {report.error}", err=True)
        raise SystemExit(EXIT_FAILURES)


@click.command()
@click.argument("email")
@config_option
@click.option("--forget", is_flag=True, help="Delete it all (the subscriber asked).")
def feedback(config_path: Path, email: str, forget: bool) -> None:
    """List the papers EMAIL marked "more like this" (+1) or "less like this" (-1), newest
    first; with --forget, delete them. Seeds from the config's `like` are not listed."""
    from digest import app

    found = app.feedback(load(config_path), email, forget=forget)
    for f in found:
        sign = "+1 more" if f.value > 0 else "-1 less"
        click.echo(f"{f.at[:19]}  {sign}  {f.paper_id}  {f.title}")
    if forget:
        click.echo(f"{email}: forgot feedback on {len(found)} papers")
    elif not found:
        click.echo(f"{email}: no feedback")
