"""`digest serve`, `check` and `status` through the real CLI."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli, wait_until
from tests.conftest import LISTINGS, write_config
from tests.servers import HttpServer, Reply, SmtpServer

pytestmark = pytest.mark.slow  # starts the CLI or servers in processes

PEOPLE = [
    {"name": "Ada", "email": "ada@example.org", "keywords": ["network"]},
    {"name": "Bob", "email": "bob@example.org", "keywords": ["learning"]},
]
ALL_DAYS = '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]'


def _serve(config: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "--log-format", "json", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_serve_sends_on_schedule_and_stops_cleanly_on_sigterm(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """A send a few seconds ahead arrives at the SMTP server; SIGTERM then exits 0 within a few
    seconds with JSON log lines; a restart right after owes nothing and sends nothing."""
    at = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%H:%M:%S")
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=PEOPLE,
        smtp_port=smtp_server.port,
        extra=f'\n[schedule]\ntime = "{at}"\ntimezone = "UTC"\ndays = {ALL_DAYS}\n',
    )
    service = _serve(config)
    try:
        assert wait_until(lambda: len(smtp_server.received) == 2, timeout=40), "no digests arrived"
        service.send_signal(signal.SIGTERM)
        started = time.monotonic()
        _, err = service.communicate(timeout=15)
    finally:
        if service.poll() is None:
            service.kill()
    assert service.returncode == 0, err
    assert time.monotonic() - started < 10
    events = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any("scheduled" in e["message"] for e in events)
    assert any(e["message"].startswith("sent ") for e in events)
    assert {r.rcpt_tos[0] for r in smtp_server.received} == {"ada@example.org", "bob@example.org"}

    again = _serve(config)
    assert again.stderr is not None
    seen: list[str] = []
    while again.poll() is None and not any("serving" in line for line in seen):
        seen.append(again.stderr.readline())  # every job is scheduled (or caught up) by then
    again.send_signal(signal.SIGTERM)
    _, rest = again.communicate(timeout=15)
    err = "".join(seen) + rest
    assert again.returncode == 0
    assert "catching up" not in err
    assert len(smtp_server.received) == 2


def test_check_lists_sources_subscribers_and_next_sends(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`digest check` validates and prints each schedule group's next three ISO send times."""
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=[
            *PEOPLE,
            {
                "name": "Cy",
                "email": "cy@example.org",
                "keywords": ["x"],
                "timezone": "America/New_York",
                "time": "06:00",
            },
        ],
        extra='\n[schedule]\ntime = "07:30"\ntimezone = "Europe/Berlin"\n',
    )
    result = run_cli(capsys, "check", "--config", config)
    assert result.code == 0, result.err
    assert "day1 [feed]" in result.out and "Ada <ada@example.org>" in result.out
    groups = [line for line in result.out.splitlines() if "next " in line]
    assert len(groups) == 2
    berlin = next(g for g in groups if "Europe/Berlin" in g)
    times = berlin.split("next ", 1)[1].split(", ")
    assert len(times) == 3 and all(
        t.endswith(("+01:00", "+02:00")) and "T07:30:00" in t for t in times
    )
    (tmp_path / "x").mkdir()
    bad = write_config(
        tmp_path / "x",
        sources=[("a", "a.xml")],
        subscribers=PEOPLE,
        extra='\n[schedule]\ntimezone = "Mars/Olympus"\n',
    )
    broken = run_cli(capsys, "check", "--config", bad)
    assert broken.code == 2 and "schedule.timezone" in broken.err


def test_check_smtp_tries_smtp_and_sources(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """`check --smtp` logs in to SMTP and `check` fetches each source once; a dead source
    makes it exit 1 and nothing is stored."""
    http_server.routes["/ok.xml"] = Reply((LISTINGS / "day1.xml").read_bytes())
    config = write_config(
        tmp_path,
        sources=[("ok", http_server.url("/ok.xml")), ("dead", http_server.url("/missing.xml"))],
        subscribers=PEOPLE,
        smtp_port=smtp_server.port,
    )
    result = run_cli(capsys, "check", "--config", config, "--smtp")
    assert result.code == 1
    assert "ok: smtp login: " in result.out and "ok: source ok: 119 papers" in result.out
    assert "failed: source dead: " in result.out
    assert not (tmp_path / "state").exists()


def test_status_reports_runs_deliveries_and_failing_sources(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """After runs with a source failing three times in a row, status shows the runs, each
    subscriber's last delivery and the failing source, the admin got one alert, --json parses
    and --healthy answers by exit code."""
    http_server.routes["/ok.xml"] = Reply((LISTINGS / "day1.xml").read_bytes())
    config = write_config(
        tmp_path,
        sources=[("ok", http_server.url("/ok.xml")), ("dead", http_server.url("/missing.xml"))],
        subscribers=PEOPLE,
        smtp_port=smtp_server.port,
        extra='\n[alerts]\nadmin_email = "ops@example.org"\nfailures = 3\n',
    )
    for day in range(4):
        now = (datetime(2025, 9, 15, 7, 30, tzinfo=UTC) + timedelta(days=day)).isoformat()
        assert run_cli(capsys, "run", "--once", "--config", config, "--now", now).code == 1
    alerts = [r for r in smtp_server.received if r.rcpt_tos == ["ops@example.org"]]
    assert len(alerts) == 1 and "dead" in str(alerts[0].message["Subject"])
    text = run_cli(capsys, "status", "--config", config)
    assert text.code == 0
    assert "FAILING: source dead failed 4 runs in a row" in text.out
    assert "Ada <ada@example.org>: last delivery 2025-09-15" in text.out
    data = json.loads(run_cli(capsys, "status", "--config", config, "--json").out)
    assert data["papers"] == 119 and len(data["runs"]) == 4
    assert data["runs"][0]["sources_failed"] == 1 and data["runs"][-1]["emails_sent"] == 2
    assert run_cli(capsys, "status", "--config", config, "--healthy").code == 0
    (tmp_path / "dead").mkdir()
    dead = write_config(
        tmp_path / "dead",
        sources=[("dead", http_server.url("/missing.xml"))],
        subscribers=PEOPLE,
        smtp_port=smtp_server.port,
    )
    assert run_cli(capsys, "status", "--config", dead, "--healthy").code == 0  # no runs yet
    assert run_cli(capsys, "run", "--once", "--config", dead).code == 1
    health = run_cli(capsys, "status", "--config", dead, "--healthy")
    assert health.code == 1 and "every source failed" in health.out
