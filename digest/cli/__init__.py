"""The command line: parse options, call ``digest.app``, print, choose the exit code. Nothing
else prints or exits. Each command imports the heavy parts (pydantic, SQLAlchemy, numpy...)
inside its body, so ``digest --help`` starts fast.

``run`` (``run.py``), ``serve``/``check``/``status`` (``service.py``), ``web`` and
``subscribers``, ``feedback``, ``bounces`` (``web.py``), shared options
(``options.py``) and report formatting (``report.py``).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from digest import __version__, logs
from digest.cli.options import EXIT_FAILURES, EXIT_OK, EXIT_USAGE
from digest.cli.run import preview, run, test_email
from digest.cli.service import check, serve, status
from digest.cli.web import bounces, feedback, subscribers, web


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
    serving = ctx.invoked_subcommand in ("serve", "web")
    logs.setup(log_format, log_level or ("info" if serving else "warning"))


for command in (
    run,
    preview,
    test_email,
    serve,
    check,
    status,
    web,
    subscribers,
    feedback,
    bounces,
):
    cli.add_command(command)


def main(argv: Sequence[str] | None = None) -> None:
    """Console entry point: run the CLI and turn DigestError into a message and exit code."""
    from digest.errors import DigestError  # light: no third-party imports

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
