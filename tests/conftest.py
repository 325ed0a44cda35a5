"""Shared fixtures: loopback servers, the fixture files and config writing helpers."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.imap_server import ImapServer, start_dovecot
from tests.servers import HttpServer, SmtpServer

DATA = Path(__file__).parent / "data"
FIXTURES = DATA / "fixtures"
ROOT = Path(__file__).parent.parent
LISTINGS = ROOT / "examples" / "listings"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test that gets a PostgreSQL database is marked `postgres`, so `-m` can select
    or leave out the ones that need the server."""
    for item in items:
        params = getattr(item, "callspec", None)
        fixtures = getattr(item, "fixturenames", ())
        uses_pg = "pg_url" in fixtures or (
            params is not None and params.params.get("store_url") == "postgresql"
        )
        if uses_pg:
            item.add_marker(pytest.mark.postgres)


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
def imap_server(tmp_path: Path) -> Iterator[ImapServer]:
    """A started Dovecot (IMAP) with one user (`bounces` / `secret`) and an empty maildir."""
    with start_dovecot(tmp_path) as server:
        yield server


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


PG_ADMIN = os.environ.get("DIGEST_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


def _pg_admin() -> object:
    """An autocommit psycopg connection to the test PostgreSQL server, or a reason why not."""
    try:
        import psycopg
    except ImportError:
        return "psycopg is not installed (pip install '.[postgres]')"
    url = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    try:
        return psycopg.connect(url, autocommit=True, connect_timeout=5)
    except psycopg.Error as exc:
        return f"cannot reach PostgreSQL at {url}: {str(exc).strip()}"


@contextmanager
def _pg_database() -> Iterator[str]:
    """A PostgreSQL database made for one test and dropped after it (its URL). Under CI=true
    a missing PostgreSQL fails the test instead of skipping it."""
    admin = _pg_admin()
    if isinstance(admin, str):
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL is required in CI: {admin}")
        pytest.skip(admin)
    name = f"digest_test_{uuid.uuid4().hex[:12]}"
    admin.execute(f'CREATE DATABASE "{name}"')  # type: ignore[attr-defined]
    try:
        yield f"{PG_ADMIN.rsplit('/', 1)[0]}/{name}"
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # type: ignore[attr-defined]
        admin.close()  # type: ignore[attr-defined]


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store URL: an SQLite file in tmp_path, or a PostgreSQL database of
    its own (see _pg_database)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.sqlite3'}"
        return
    with _pg_database() as url:
        yield url


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL database of this test's own."""
    with _pg_database() as url:
        yield url
