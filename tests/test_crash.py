"""Process-level delivery safety: SIGKILL mid-send then re-run loses nothing and re-sends at
most the message in flight (same Message-ID); two runs at once never both send a digest."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from digest.store import Store
from tests.cli_helpers import paper_links, wait_until
from tests.conftest import LISTINGS, write_config
from tests.servers import SmtpServer

pytestmark = pytest.mark.slow  # starts the CLI or servers in processes

DAY = "2025-09-15T07:30:00+00:00"
PEOPLE = [
    {
        "name": f"Reader {i}",
        "email": f"reader{i}@example.org",
        "keywords": ["network", "learning"],
        "max_papers": 5,
    }
    for i in range(6)
]


def _config(tmp_path: Path, smtp: SmtpServer, people: list[dict[str, object]]) -> Path:
    path = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=people,
        smtp_port=smtp.port,
    )
    path.write_text(path.read_text().replace("retries = 2\n", "retries = 2\nconnections = 1\n", 1))
    return path


def _run(config: Path, now: str = DAY) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "digest", "run", "--once", "--config", str(config), "--now", now],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@pytest.mark.parametrize(
    ("first", "second"),
    [(DAY, DAY), ("2025-09-15T23:59:59+00:00", "2025-09-16T00:00:05+00:00")],
    ids=["same-moment", "across-midnight"],
)
def test_sigkill_mid_send_then_rerun_loses_nothing(
    tmp_path: Path, smtp_server: SmtpServer, first: str, second: str
) -> None:
    """Kill a real run while its third digest is on the wire (the server holds it); the re-run
    (also one that starts after midnight: the clock is a seam) delivers the rest, nothing is
    lost, and at most one digest arrives twice, with the same Message-ID."""
    smtp_server.handler.hold_after = 2  # the third message waits on the wire
    config = _config(tmp_path, smtp_server, PEOPLE)
    victim = _run(config, first)
    assert wait_until(lambda: smtp_server.handler.held > 0, timeout=60), "no third message"
    os.kill(victim.pid, signal.SIGKILL)
    victim.communicate(timeout=30)  # reaps it and closes its pipes
    assert victim.returncode == -signal.SIGKILL
    assert len(smtp_server.received) < len(PEOPLE), "the kill must land mid-run"
    assert len(smtp_server.received) == 2, "the kill landed while the third was in flight"

    smtp_server.handler.hold_after = None
    again = subprocess.run(
        [sys.executable, "-m", "digest", "run", "--once", "--config", str(config), "--now", second],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert again.returncode == 0, again.stdout + again.stderr

    by_rcpt: dict[str, list[str]] = defaultdict(list)
    papers: dict[str, set[str]] = defaultdict(set)
    for record in smtp_server.received:
        (rcpt,) = record.rcpt_tos
        msg = record.message
        by_rcpt[rcpt].append(str(msg["Message-ID"]))
        papers[rcpt] |= set(paper_links(msg.get_body(("html",)).get_content()))
    assert set(by_rcpt) == {p["email"] for p in PEOPLE}, "nobody is left without a digest"
    extra = sum(len(ids) - 1 for ids in by_rcpt.values())
    assert extra <= 1, by_rcpt
    for ids in by_rcpt.values():
        assert len(set(ids)) == 1, "a re-sent digest carries the same Message-ID"
    store = Store.sqlite(tmp_path / "state" / "digest.sqlite3")
    for person in PEOPLE:
        assert len(store.sent_ids(str(person["email"]))) >= len(papers[str(person["email"])]) > 0
    store.close()


def test_two_runs_at_once_never_both_send(tmp_path: Path, smtp_server: SmtpServer) -> None:
    """Two `digest run --once` on one store, the second started while the first is provably
    mid-send: one sends every digest once, the other says 'already running' and sends nothing."""
    smtp_server.handler.hold_after = 0  # the first run's first message waits on the wire
    people = PEOPLE[:4]
    config = _config(tmp_path, smtp_server, people)
    first = _run(config)
    assert wait_until(lambda: smtp_server.handler.held > 0, timeout=60), "first run never sent"
    second = _run(config)  # starts while the first is mid-send: the runs overlap for sure
    second_out = second.communicate(timeout=120)
    smtp_server.handler.hold_after = None
    outs = [first.communicate(timeout=120), second_out]
    codes = sorted(p.returncode for p in (first, second))
    assert codes == [0, 1], outs
    assert any("already running" in err for _, err in outs), outs
    rcpts = [r.rcpt_tos[0] for r in smtp_server.received]
    assert sorted(rcpts) == sorted(str(p["email"]) for p in people)
