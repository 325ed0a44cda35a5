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


def _dump(url: str) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in a stable order."""
    from sqlalchemy import MetaData, create_engine, select

    engine = create_engine(url)
    meta = MetaData()
    meta.reflect(engine)
    with engine.connect() as conn:
        out = {
            name: sorted(map(tuple, conn.execute(select(table)).all()), key=repr)
            for name, table in meta.tables.items()
        }
    engine.dispose()
    return out


def test_dry_run_and_preview_leave_postgresql_unchanged(
    pg_url: str,
    tmp_path: Path,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """On an empty database a dry-run writes its .eml files and leaves no table behind; after
    a real run, a dry-run and a preview over new listings change no row and send nothing."""
    monkeypatch.setenv("DIGEST_TEST_DB_PASSWORD", "x")
    config = _pg_config(tmp_path, pg_url, smtp_server)
    dry = run_cli(capsys, "run", "--config", config, "--now", DAY1, "--dry-run")
    assert dry.code == 0 and "1 written" in dry.out, dry.out + dry.err
    assert list((tmp_path / "outbox").glob("*.eml"))
    assert _dump(pg_url) == {}
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    config.write_text(config.read_text().replace("day1.xml", "day2.xml"))
    before = _dump(pg_url)
    again = run_cli(capsys, "run", "--config", config, "--now", DAY2, "--dry-run")
    assert again.code == 0 and "new papers" in again.out, again.out + again.err
    shown = run_cli(capsys, "preview", "--config", config, "--subscriber", "Ada", "--now", DAY2)
    assert shown.code == 0, shown.out + shown.err
    assert _dump(pg_url) == before
    assert len(smtp_server.received) == 1  # the real run's digest only
