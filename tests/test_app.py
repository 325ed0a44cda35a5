"""The library API: a program drives whole runs, previews, checks and status through
digest.app alone, without the CLI."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from digest import app
from digest.config.load import load_config
from tests.conftest import LISTINGS, write_config
from tests.servers import HttpServer, Reply, SmtpServer

pytestmark = pytest.mark.slow  # starts the CLI or servers in processes

NOW = datetime(2025, 9, 15, 7, 30, tzinfo=UTC)
PEOPLE = [
    {"name": "Ada", "email": "ada@example.org", "keywords": ["network"]},
    {"name": "Bob", "email": "bob@example.org", "keywords": ["zqxjvw"]},
]


def test_a_whole_run_through_the_library_api(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    """app.run fetches over HTTP, sends over SMTP and records; a second run with the same
    listing has nothing new; status and health read what the runs left."""
    http_server.routes["/feed.xml"] = Reply((LISTINGS / "day1.xml").read_bytes())
    config = load_config(
        write_config(
            tmp_path,
            sources=[("day1", http_server.url("/feed.xml"))],
            subscribers=PEOPLE,
            smtp_port=smtp_server.port,
        )
    )
    report = asyncio.run(app.run(config, now=NOW))
    assert not report.failed
    assert [s.status for s in report.sources] == ["ok"]
    assert [d.status for d in report.deliveries] == ["sent", "nothing-new"]
    assert [r.rcpt_tos for r in smtp_server.received] == [["ada@example.org"]]

    again = asyncio.run(app.run(config, now=NOW + timedelta(days=1)))
    assert [d.status for d in again.deliveries] == ["nothing-new", "nothing-new"]
    assert len(smtp_server.received) == 1

    state = app.status(config)
    assert state.papers == 119 and len(state.runs) == 2
    assert state.runs[0].emails_sent == 0 and state.runs[1].emails_sent == 1
    ada = state.subscribers[0]
    assert ada.email == "ada@example.org" and ada.papers_sent > 0
    real = datetime.now(UTC)  # a report's `finished` is the wall-clock end of the run
    assert app.health(config, now=real).ok
    assert not app.health(config, now=real + timedelta(days=3)).ok


def test_dry_run_preview_and_checks_change_nothing(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    """A dry-run writes .eml files, a preview writes .html and .eml, the checks log in and
    fetch once: none of them creates the store."""
    http_server.routes["/feed.xml"] = Reply((LISTINGS / "day1.xml").read_bytes())
    config = load_config(
        write_config(
            tmp_path,
            sources=[("day1", http_server.url("/feed.xml")), ("dead", http_server.url("/x"))],
            subscribers=PEOPLE,
            smtp_port=smtp_server.port,
        )
    )
    report = asyncio.run(app.run(config, now=NOW, dry_run=True))
    assert report.dry_run and [d.status for d in report.deliveries] == ["written", "nothing-new"]
    assert report.failed  # the dead source
    result = asyncio.run(app.preview(config, 0, folder=tmp_path / "p", offline=False, now=NOW))
    assert result.html is not None and result.html.read_text().count("arxiv.org") > 0
    assert dict(result.failed_sources).keys() == {"dead"}
    checks = asyncio.run(app.check_sources(config, now=NOW))
    assert [(c.name, c.papers, c.error is None) for c in checks] == [
        ("day1", 119, True),
        ("dead", 0, False),
    ]
    assert asyncio.run(app.check_smtp(config)).startswith("127.0.0.1:")
    assert smtp_server.received == []
    assert not (tmp_path / "state").exists()
