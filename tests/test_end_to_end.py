"""End to end through the CLI: real HTTP feeds, a real SMTP server, a real SQLite store."""

from __future__ import annotations

import hashlib
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.store import Store
from tests.cli_helpers import paper_links, run_cli
from tests.conftest import LISTINGS, write_config
from tests.servers import HttpServer, Reply, SmtpServer

pytestmark = pytest.mark.slow  # starts the CLI or servers in processes

DAY1 = "2025-09-15T07:30:00+00:00"
DAY2 = "2025-09-16T07:30:00+00:00"
DAY3 = "2025-09-17T07:30:00+00:00"

BROAD = {
    "name": "Ada",
    "email": "ada@example.org",
    "keywords": ["network", "learning", "model", "data"],
    "max_papers": 200,
}
NARROW = {"name": "Bob", "email": "bob@example.org", "keywords": ["pruning"], "max_papers": 3}


def _html(received_data: bytes) -> str:
    msg = message_from_bytes(received_data, policy=policy.default)
    body = msg.get_body(("html",))
    assert body is not None
    return str(body.get_content())


def _serve_days(http_server: HttpServer) -> None:
    http_server.routes["/feed.xml"] = [
        Reply((LISTINGS / "day1.xml").read_bytes()),
        Reply((LISTINGS / "day2.xml").read_bytes()),
    ]


def test_day1_then_day2_sends_no_paper_twice(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Across two daily runs a subscriber never gets the same paper twice, and a third run with
    nothing new sends no email at all."""
    _serve_days(http_server)
    config = write_config(
        tmp_path,
        sources=[("trending", http_server.url("/feed.xml"))],
        subscribers=[BROAD],
        smtp_port=smtp_server.port,
    )
    first = run_cli(capsys, "run", "--once", "--config", config, "--now", DAY1)
    assert first.code == 0, first.out + first.err
    assert "119 new" in first.out
    assert len(smtp_server.received) == 1
    day1_links = paper_links(_html(smtp_server.received[0].data))
    assert len(day1_links) > 50

    second = run_cli(capsys, "run", "--once", "--config", config, "--now", DAY2)
    assert second.code == 0, second.out + second.err
    assert "38 papers, 31 new" in second.out
    assert len(smtp_server.received) == 2
    day2_links = paper_links(_html(smtp_server.received[1].data))
    assert day2_links, "day 2 brings 31 new papers; some match the broad profile"
    assert set(day1_links).isdisjoint(day2_links)
    assert len(day2_links) <= 31

    third = run_cli(capsys, "run", "--once", "--config", config, "--now", DAY3)
    assert third.code == 0
    assert "nothing new" in third.out
    assert len(smtp_server.received) == 2

    store = Store.sqlite(tmp_path / "state" / "digest.sqlite3")
    assert len(store.sent_ids("ada@example.org")) == len(day1_links) + len(day2_links)
    assert store.count_papers() == 150
    store.close()


def test_dry_run_leaves_store_byte_identical(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A dry-run after a real run writes parseable .eml files and leaves the store's bytes and
    the SMTP server untouched."""
    _serve_days(http_server)
    config = write_config(
        tmp_path,
        sources=[("trending", http_server.url("/feed.xml"))],
        subscribers=[BROAD, NARROW],
        smtp_port=smtp_server.port,
    )
    assert run_cli(capsys, "run", "--once", "--config", config, "--now", DAY1).code == 0
    store_file = tmp_path / "state" / "digest.sqlite3"
    before = hashlib.sha256(store_file.read_bytes()).hexdigest()
    files_before = sorted(p.name for p in store_file.parent.iterdir())
    sent_before = len(smtp_server.received)

    outbox = tmp_path / "eml"
    dry = run_cli(
        capsys, "run", "--once", "--dry-run", "--config", config, "--outbox", outbox, "--now", DAY2
    )
    assert dry.code == 0, dry.out + dry.err
    assert hashlib.sha256(store_file.read_bytes()).hexdigest() == before
    assert sorted(p.name for p in store_file.parent.iterdir()) == files_before
    assert len(smtp_server.received) == sent_before
    files = sorted(outbox.glob("*.eml"))
    assert files, dry.out
    for f in files:
        msg = message_from_bytes(f.read_bytes(), policy=policy.default)
        assert msg.get_content_type() == "multipart/alternative"
        assert msg["Message-ID"] and msg["Date"] and msg["Subject"]
        assert msg.get_body(("plain",)) is not None
        assert b"\r\n" in f.read_bytes()

    # The papers the dry-run showed are still unsent, so the real day-2 run sends them.
    real = run_cli(capsys, "run", "--once", "--config", config, "--now", DAY2)
    assert real.code == 0
    assert len(smtp_server.received) > sent_before


def test_dry_run_without_state_creates_no_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A dry-run on a fresh config reads local listings and creates no state file."""
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=[NARROW],
    )
    result = run_cli(capsys, "run", "--once", "--dry-run", "--config", config)
    assert result.code == 0, result.out + result.err
    assert not (tmp_path / "state").exists()
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == 1


def test_failing_sources_do_not_stop_the_others(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A 404, a refused connection and a garbage body are each reported while the good source
    still produces the digest; the exit code is 1."""
    http_server.routes["/good.xml"] = Reply((LISTINGS / "day1.xml").read_bytes())
    http_server.routes["/garbage.xml"] = Reply(b"\x00\x01 this is not a feed <html")
    config = write_config(
        tmp_path,
        sources=[
            ("missing", http_server.url("/missing.xml")),
            ("refused", "http://127.0.0.1:9/feed.xml"),
            ("garbage", http_server.url("/garbage.xml")),
            ("good", http_server.url("/good.xml")),
        ],
        subscribers=[NARROW],
        smtp_port=smtp_server.port,
    )
    result = run_cli(capsys, "run", "--once", "--config", config, "--now", DAY1)
    assert result.code == 1
    failed = [line for line in result.out.splitlines() if line.strip().startswith("failed")]
    assert len(failed) == 3
    assert any("missing" in line and "404" in line for line in failed)
    assert any("refused" in line for line in failed)
    assert any("garbage" in line for line in failed)
    assert len(smtp_server.received) == 1


def test_rejected_recipient_stays_unsent_and_others_go_out(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A 550 for one recipient is reported with the server's words, the other recipient gets
    the digest, and the refused papers are sent on the next run once the address (paused by
    the hard bounce) is resumed."""
    http_server.routes["/feed.xml"] = Reply((LISTINGS / "day1.xml").read_bytes())
    smtp_server.handler.reject["bob@example.org"] = "550 5.1.1 no such mailbox"
    config = write_config(
        tmp_path,
        sources=[("trending", http_server.url("/feed.xml"))],
        subscribers=[NARROW, BROAD],
        smtp_port=smtp_server.port,
    )
    result = run_cli(capsys, "run", "--once", "--config", config, "--now", DAY1)
    assert result.code == 1
    assert "550" in result.out and "no such mailbox" in result.out
    assert [r.rcpt_tos for r in smtp_server.received] == [["ada@example.org"]]
    store = Store.sqlite(tmp_path / "state" / "digest.sqlite3")
    assert store.sent_ids("bob@example.org") == set()
    store.close()

    del smtp_server.handler.reject["bob@example.org"]
    assert run_cli(capsys, "subscribers", "resume", "bob@example.org", "--config", config).code == 0
    again = run_cli(capsys, "run", "--once", "--config", config, "--now", DAY2)
    assert again.code == 0, again.out
    assert [r.rcpt_tos for r in smtp_server.received][-1] == ["bob@example.org"]
    bob = smtp_server.received[-1].message
    assert "pruning" in str(bob["Subject"])
