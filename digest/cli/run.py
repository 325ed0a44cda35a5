"""`run`, `preview` and `test-email`: parse options, call digest.app, print, exit."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import click

from digest.cli.options import EXIT_FAILURES, EXIT_OK, config_option, load, now_option, parse_now
from digest.cli.report import format_report, progress_reporter


@click.command()
@config_option
@click.option(
    "--once",
    is_flag=True,
    help="Accepted for compatibility and ignored: `run` always does one pass "
    "(the daily loop is `digest serve`).",
)
@click.option(
    "--dry-run", is_flag=True, help="Write .eml files instead of sending; change no state."
)
@click.option(
    "--outbox",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for --dry-run's .eml files (default: [email] outbox).",
)
@now_option
def run(
    config_path: Path, once: bool, dry_run: bool, outbox: Path | None, now_text: str | None
) -> None:
    """Fetch every source, rank the new papers and send each subscriber one digest.

    Exit status: 0 all good; 1 finished but a source or delivery failed; 2 usage or config error.
    """
    from digest import app

    config = load(config_path, links=True)
    now = parse_now(now_text)
    folder = outbox.absolute() if outbox else config.outbox
    with progress_reporter(len(config.subscribers)) as progress:
        report = asyncio.run(
            app.run(config, now=now, dry_run=dry_run, outbox_dir=folder, progress=progress)
        )
    for line in format_report(report, outbox=folder):
        click.echo(line)
    if report.failed:
        raise SystemExit(EXIT_FAILURES)


@click.command()
@config_option
@click.option("--subscriber", "who", required=True, help="The subscriber's name or email.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the .html and .eml files (default: [email] outbox).",
)
@click.option("--offline", is_flag=True, help="Fetch nothing; use the papers already stored.")
@now_option
def preview(
    config_path: Path, who: str, out: Path | None, offline: bool, now_text: str | None
) -> None:
    """Render one subscriber's next digest to an .html and an .eml file; change no state.

    Runs the same pipeline as `run --dry-run` for that subscriber alone, on a throwaway copy of
    the store, and prints the paths of the files it wrote.
    """
    from digest import app

    config = load(config_path, links=True)
    index = app.find_subscriber(config, who)
    if index is None:
        names = ", ".join(repr(s.name) for s in config.subscribers)
        raise click.BadParameter(f"no subscriber named {who!r} in {config.path}; there are {names}")
    folder = out.absolute() if out else config.outbox
    result = asyncio.run(
        app.preview(config, index, folder=folder, offline=offline, now=parse_now(now_text))
    )
    for name, error in result.failed_sources:
        click.echo(f"source {name} failed: {error}", err=True)
    if result.eml is None or result.html is None:
        click.echo(f"nothing new for {result.subscriber.name}: no digest would be sent")
        raise SystemExit(EXIT_FAILURES if result.failed_sources else EXIT_OK)
    click.echo(f"html: {result.html}")
    click.echo(f"eml:  {result.eml}")
    if result.failed_sources:
        raise SystemExit(EXIT_FAILURES)


@click.command("test-email")
@config_option
@click.option("--to", "to", required=True, help="Where to send the sample digest.")
def test_email(config_path: Path, to: str) -> None:
    """Send one sample digest to check the SMTP settings and the look; touches no state."""
    from digest import app
    from digest.config.fields import validate_email
    from digest.errors import DeliveryError

    config = load(config_path)
    try:
        address = validate_email(to)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None
    try:
        reply = asyncio.run(app.send_test_email(config, address, now=datetime.now(UTC)))
    except DeliveryError as exc:
        click.echo(f"test email to {address} failed: {exc}", err=True)
        raise SystemExit(EXIT_FAILURES) from None
    click.echo(f"test email sent to {address}: {reply}")
