"""Shared fixtures: loopback servers, the fixture files and config writing helpers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import HttpServer, SmtpServer

DATA = Path(__file__).parent / "data"
FIXTURES = DATA / "fixtures"
ROOT = Path(__file__).parent.parent
LISTINGS = ROOT / "examples" / "listings"


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """A threaded HTTP server on loopback that records every request."""
    server = HttpServer().start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real aiosmtpd server on loopback."""
    server = SmtpServer().start()
    yield server
    server.stop()


@pytest.fixture
def manifest() -> dict[str, Any]:
    """The fixture manifest: expected counts and ids."""
    return json.loads((FIXTURES / "manifest.json").read_text())


def fixture_bytes(name: str) -> bytes:
    """The bytes of one fixture file."""
    return (FIXTURES / name).read_bytes()


def toml_str(value: str) -> str:
    """A TOML basic string literal."""
    return json.dumps(value)


def write_config(
    folder: Path,
    *,
    sources: list[tuple[str, str]],
    subscribers: list[dict[str, Any]],
    smtp_port: int = 25,
    extra: str = "",
) -> Path:
    """Write a config.toml into `folder` with the given sources and subscribers."""
    lines = [
        "[store]",
        'path = "state/digest.sqlite3"',
        "",
        "[email]",
        'sender = "Paper Digest <digest@example.org>"',
        'outbox = "outbox"',
        "",
        "[smtp]",
        'host = "127.0.0.1"',
        f"port = {smtp_port}",
        'security = "none"',
        "timeout = 10",
        "backoff = 0.05",
        "retries = 2",
        "",
        "[fetch]",
        "timeout = 5",
        "backoff = 0.01",
        "retries = 1",
        "",
    ]
    for name, url in sources:
        lines += ["[[sources]]", f"name = {toml_str(name)}", f"url = {toml_str(url)}", ""]
    for sub in subscribers:
        lines.append("[[subscribers]]")
        for key, value in sub.items():
            lines.append(f"{key} = {json.dumps(value)}")
        lines.append("")
    path = folder / "config.toml"
    path.write_text("\n".join(lines) + extra, encoding="utf-8")
    return path
