"""Options and values shared by several commands; imports nothing heavy."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from digest.config.values import Config

EXIT_OK, EXIT_FAILURES, EXIT_USAGE = 0, 1, 2

config_option = click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The TOML config file.",
)

now_option = click.option(
    "--now", "now_text", hidden=True, help="Pretend it is this ISO time (testing)."
)


def parse_now(value: str | None) -> datetime:
    """The --now option as an aware time (default: the real time now, UTC)."""
    if not value:
        return datetime.now(UTC)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"expected an ISO-8601 time, found {value!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load(path: Path, *, links: bool = False) -> Config:
    """Load the config (pydantic is imported here, not when the CLI starts); with `links`
    (the commands that sign or check subscriber links) [web]'s secret must be usable."""
    from digest.config.load import load_config

    config = load_config(path)
    return config.require_link_secret() if links else config
