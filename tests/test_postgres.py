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
