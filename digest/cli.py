"""The composition root: build the real objects, run them, print reports, map errors to exits."""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.message import EmailMessage
from pathlib import Path

import click

from digest import __version__, logs
from digest.cli_options import config_option
from digest.config import Config, SubscriberSettings, load_config, validate_email
from digest.errors import DeliveryError, DigestError
from digest.fetch import Fetcher
from digest.mail.deliver import FileOutbox, Outbox, SmtpOutbox
from digest.mail.render import make_environment
from digest.mail.sample import sample_digest
from digest.models import RunReport
from digest.pipeline import build_message, run_once
from digest.store import Store, dry_run_copy

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2
PROGRESS_FROM = 100  # subscribers; smaller lists finish before a bar is worth drawing


def _now(value: str | None) -> datetime:
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected an ISO-8601 time, found {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def format_report(report: RunReport, *, outbox: Path | None = None) -> list[str]:
    """The run report as short human-readable lines."""
    lines: list[str] = []
    failed_sources = [s for s in report.sources if s.status == "failed"]
    lines.append(
        f"sources: {len(report.sources)} read, {len(failed_sources)} failed; "
        f"{report.new_papers} new papers"
    )
    for s in report.sources:
        detail = s.error if s.error else f"{s.papers} papers, {s.new} new"
        lines.append(f"  {s.status:<12} {s.name}: {detail}")
    verb = "written" if report.dry_run else "sent"
    done = [d for d in report.deliveries if d.status in ("sent", "written")]
    where = f" to {outbox}" if outbox and report.dry_run else ""
    lines.append(f"emails: {len(done)} {verb}{where}")
    for d in report.deliveries:
        if d.status in ("sent", "written"):
            detail = f"{d.papers} papers -> {d.location}"
        elif d.status == "nothing-new":
            detail = "nothing new, no email"
        else:
            detail = d.error or "failed"
        lines.append(f"  {d.status:<12} {d.subscriber} <{d.email}>: {detail}")
    if report.throughput is not None:
        lines.append(
            f"throughput: {len(done)} emails in {report.sending_seconds:.1f} s "
            f"({report.throughput:.1f}/s)"
        )
    lines.extend(f"note: {note}" for note in report.notes)
    if report.dry_run:
        lines.append("dry-run: nothing was sent and the store was not changed")
    return lines


async def _run(
    config: Config,
    *,
    now: datetime,
    dry_run: bool,
    outbox_dir: Path,
    progress: Callable[[int, int], None] | None = None,
    stop: asyncio.Event | None = None,
) -> RunReport:
    outbox: Outbox
    with tempfile.TemporaryDirectory(prefix="digest-dry-run-") as scratch:
        if dry_run:
            store = dry_run_copy(config.store_url, Path(scratch))
            outbox = FileOutbox(outbox_dir)
        else:
            store = Store(config.store_url)
            outbox = smtp_outbox(config)
        with ExitStack() as cleanup:
            cleanup.callback(store.close)
            if not dry_run:
                cleanup.enter_context(store.run_lock())
            embedder = None
            if config.settings.ranking.semantic:
                from digest.ranking.semantic import load_embedder  # torch is imported only here

                embedder = load_embedder()
            fetch = config.settings.fetch
            async with Fetcher(
                contact=fetch.contact,
                timeout=fetch.timeout,
                max_bytes=fetch.max_bytes,
                retries=fetch.retries,
                backoff=fetch.backoff,
                concurrency=fetch.concurrency,
            ) as fetcher:
                return await run_once(
                    config,
                    now=now,
                    store=store,
                    outbox=outbox,
                    fetcher=fetcher,
                    clock=lambda: datetime.now(UTC),
                    embedder=embedder,
                    progress=progress,
                    stop=stop,
                )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="digest")
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="Log lines on stderr as text or as one JSON object per line.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="Default: info for serve, warning otherwise.",
)
@click.pass_context
def cli(ctx: click.Context, log_format: str, log_level: str | None) -> None:
    """Paper Digest: new papers from your feeds, ranked per subscriber, one email a day."""
    serving = ctx.invoked_subcommand == "serve"
    logs.setup(log_format, log_level or ("info" if serving else "warning"))


@cli.command()
@config_option
@click.option("--once", is_flag=True, help="Run one pass and exit (what `run` always does).")
@click.option(
    "--dry-run", is_flag=True, help="Write .eml files instead of sending; change no state."
)
@click.option(
    "--outbox",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for --dry-run's .eml files (default: [email] outbox).",
)
@click.option("--now", "now_text", hidden=True, help="Pretend it is this ISO time (testing).")
def run(
    config_path: Path, once: bool, dry_run: bool, outbox: Path | None, now_text: str | None
) -> None:
    """Fetch every source, rank the new papers and send each subscriber one digest.

    Exit status: 0 all good; 1 finished but a source or delivery failed; 2 usage or config error.
    """
    del once  # `run` is always one pass; the daily loop is `digest serve`
    config = load_config(config_path)
    outbox_dir = outbox.absolute() if outbox else config.outbox
    report = asyncio.run(_run(config, now=_now(now_text), dry_run=dry_run, outbox_dir=outbox_dir))
    for line in format_report(report, outbox=outbox_dir):
        click.echo(line)
    if report.failed:
        raise SystemExit(EXIT_FAILURES)


@contextmanager
def progress_reporter(total: int) -> Iterator[Callable[[int, int], None] | None]:
    """A progress bar on a terminal (rich), plain lines every 10% otherwise; nothing for
    short lists."""
    if total < PROGRESS_FROM:
        yield None
        return
    if sys.stderr.isatty():
        from rich.progress import Progress

        with Progress(transient=True) as bar:
            task = bar.add_task("sending", total=total)
            yield lambda done, _total: bar.update(task, completed=done)
        return
    step = max(1, total // 10)

    def line(done: int, all_: int) -> None:
        if done % step == 0 or done == all_:
            click.echo(f"progress: {done}/{all_} digests handled", err=True)

    yield line


def _subscriber(config: Config, who: str) -> SubscriberSettings:
    for sub in config.settings.subscribers:
        if who in (sub.name, sub.email):
            return sub
    names = ", ".join(repr(s.name) for s in config.settings.subscribers)
    raise click.BadParameter(f"no subscriber named {who!r} in {config.path}; there are {names}")


@cli.command()
@config_option
@click.option("--subscriber", "who", required=True, help="The subscriber's name or email.")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the .html and .eml files (default: [email] outbox).",
)
@click.option("--offline", is_flag=True, help="Fetch nothing; use the papers already stored.")
@click.option("--now", "now_text", hidden=True, help="Pretend it is this ISO time (testing).")
def preview(
    config_path: Path, who: str, out: Path | None, offline: bool, now_text: str | None
) -> None:
    """Render one subscriber's next digest to an .html and an .eml file; change no state.

    Runs the same pipeline as `run --dry-run` for that subscriber alone, on a throwaway copy of
    the store, and prints the paths of the files it wrote.
    """
    config = load_config(config_path)
    sub = _subscriber(config, who)
    update: dict[str, object] = {"subscribers": (sub,)}
    if offline:
        update["sources"] = ()
    narrowed = Config(path=config.path, settings=config.settings.model_copy(update=update))
    folder = out.absolute() if out else config.outbox
    report = asyncio.run(_run(narrowed, now=_now(now_text), dry_run=True, outbox_dir=folder))
    failed = [s for s in report.sources if s.status == "failed"]
    for source in failed:
        click.echo(f"source {source.name} failed: {source.error}", err=True)
    (delivery,) = report.deliveries
    if delivery.status != "written" or delivery.location is None:
        click.echo(f"nothing new for {sub.name}: no digest would be sent")
        raise SystemExit(EXIT_FAILURES if failed else EXIT_OK)
    eml = Path(delivery.location)
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    body = message.get_body(("html",)) if isinstance(message, EmailMessage) else None
    html = eml.with_suffix(".html")
    html.write_text(str(body.get_content()) if body is not None else "", encoding="utf-8")
    click.echo(f"html: {html}")
    click.echo(f"eml:  {eml}")
    if failed:
        raise SystemExit(EXIT_FAILURES)


@cli.command("test-email")
@config_option
@click.option("--to", "to", required=True, help="Where to send the sample digest.")
def test_email(config_path: Path, to: str) -> None:
    """Send one sample digest to check the SMTP settings and the look; touches no state."""
    config = load_config(config_path)
    try:
        address = validate_email(to)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--to") from None
    now = datetime.now(UTC)
    digest = sample_digest(name="Paper Digest test", email=address, day=now.date())
    message = build_message(config, digest, make_environment(config.templates), now=now)

    async def send() -> str:
        async with smtp_outbox(config) as outbox:
            return await outbox.send(message)

    try:
        reply = asyncio.run(send())
    except DeliveryError as exc:
        click.echo(f"test email to {address} failed: {exc}", err=True)
        raise SystemExit(EXIT_FAILURES) from None
    click.echo(f"test email sent to {address}: {reply}")


def smtp_outbox(config: Config) -> SmtpOutbox:
    """The SMTP outbox a config describes."""
    smtp = config.settings.smtp
    return SmtpOutbox(
        host=smtp.host,
        port=smtp.port,
        security=smtp.security,
        username=smtp.username,
        password=config.smtp_password(),
        timeout=smtp.timeout,
        tls_context=config.tls_context() if smtp.security != "none" else None,
        connections=smtp.connections,
        retries=smtp.retries,
        backoff=smtp.backoff,
        max_per_minute=smtp.max_per_minute,
    )


def _register() -> None:
    from digest.cli_service import check, serve, status

    for command in (serve, check, status):
        cli.add_command(command)


_register()


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run the CLI and turn DigestError into a message and exit code."""
    try:
        cli.main(args=list(argv) if argv is not None else None, standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(EXIT_FAILURES)
    except click.ClickException as exc:
        exc.show()
        sys.exit(EXIT_USAGE)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except DigestError as exc:
        click.echo(f"digest: {exc}", err=True)
        sys.exit(exc.exit_code)
    sys.exit(EXIT_OK)
