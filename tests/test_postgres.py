"""The store on PostgreSQL through the real commands: a run sends and records, a second run
sends nothing twice, status reads it; the password comes from the environment only."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli_helpers import run_cli
from tests.conftest import LISTINGS, write_config
from tests.servers import SmtpServer

DAY1 = "2025-09-15T07:30:00+00:00"
DAY2 = "2025-09-16T07:30:00+00:00"


def _pg_config(tmp_path: Path, url: str, smtp: SmtpServer) -> Path:
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=[{"name": "Ada", "email": "ada@example.org", "keywords": ["network"]}],
        smtp_port=smtp.port,
    )
    text = config.read_text().replace(
        'path = "state/digest.sqlite3"', f'url = "{url}"\npassword_env = "DIGEST_TEST_DB_PASSWORD"'
    )
    config.write_text(text + "\n[ranking]\nsemantic = false\n")
    return config


def test_run_and_status_on_postgresql(
    pg_url: str,
    tmp_path: Path,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two runs on one PostgreSQL store send one digest (the second has nothing new), and
    status reads the runs and the delivery; nothing is written beside the config."""
    monkeypatch.setenv("DIGEST_TEST_DB_PASSWORD", "unused-with-trust-auth")
    config = _pg_config(tmp_path, pg_url, smtp_server)
    first = run_cli(capsys, "run", "--config", config, "--now", DAY1)
    assert first.code == 0, first.out + first.err
    second = run_cli(capsys, "run", "--config", config, "--now", DAY2)
    assert second.code == 0 and "nothing new" in second.out
    assert [r.rcpt_tos for r in smtp_server.received] == [["ada@example.org"]]
    status = run_cli(capsys, "status", "--config", config)
    assert status.code == 0 and "Ada <ada@example.org>: last delivery 2025-09-15" in status.out
    assert "unused-with-trust-auth" not in status.out  # the password is never shown
    assert not (tmp_path / "state").exists()
    monkeypatch.delenv("DIGEST_TEST_DB_PASSWORD")
    missing = run_cli(capsys, "status", "--config", config)
    assert missing.code == 2 and "store.password_env" in missing.err


def test_two_runs_on_one_postgresql_store_never_both_send(
    pg_url: str, tmp_path: Path, smtp_server: SmtpServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two `digest run` processes on one PostgreSQL store, the second started while the
    first is provably mid-send: the first sends every digest once, the second says 'already
    running' and sends nothing (a session advisory lock, released when the first exits)."""
    import subprocess
    import sys

    from tests.cli_helpers import wait_until

    monkeypatch.setenv("DIGEST_TEST_DB_PASSWORD", "x")
    config = _pg_config(tmp_path, pg_url, smtp_server)
    people = "".join(
        f'\n[[subscribers]]\nname = "R{i}"\nemail = "r{i}@example.org"\nkeywords = ["network"]\n'
        for i in range(3)
    )
    config.write_text(config.read_text() + people)
    argv = [sys.executable, "-m", "digest", "run", "--config", str(config), "--now", DAY1]
    smtp_server.handler.hold_after = 0
    first = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: smtp_server.handler.held > 0, timeout=60), "first never sent"
        second = subprocess.run(argv, capture_output=True, text=True, timeout=120)
        smtp_server.handler.hold_after = None
        out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, out + err
    assert second.returncode == 1 and "already running" in second.stderr, second.stderr
    rcpts = sorted(r.rcpt_tos[0] for r in smtp_server.received)
    assert rcpts == sorted(["ada@example.org", *(f"r{i}@example.org" for i in range(3))])
    again = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0 and "already running" not in again.stderr  # lock released
