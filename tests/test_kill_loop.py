"""SIGKILL at random moments (fetching, planning, sending), again and again, on SQLite and
PostgreSQL, with one and two instances: once a run is let finish, every subscriber has
every paper a clean run sends them, a digest went out twice only if it was on a killed
process's wire, and every copy of a digest carries the same Message-ID."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import defaultdict
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from tests.cli_helpers import paper_links
from tests.conftest import LISTINGS, ROOT, write_config
from tests.servers import SmtpServer

pytestmark = pytest.mark.slow  # dozens of processes

DAY = "2025-09-15T07:30:00+00:00"
CONNECTIONS = 2
KILLS = 10
PEOPLE = [
    {"name": f"R{i}", "email": f"r{i}@example.org", "keywords": ["network", "learning"]}
    for i in range(12)
]


def _config(folder: Path, smtp_port: int, store: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = write_config(
        folder,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=PEOPLE,
        smtp_port=smtp_port,
        extra="\n[ranking]\nsemantic = false\n",
    )
    text = path.read_text().replace("retries = 2\n", f"retries = 2\nconnections = {CONNECTIONS}\n")
    if store:
        text = text.replace(
            'path = "state/digest.sqlite3"', f'url = "{store}"\nfailover_seconds = 2'
        )
    path.write_text(text)
    return path


def _start(config: Path, *extra: str) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "digest", "run", "--once", "--config", str(config)]
    return subprocess.Popen(
        [*argv, "--now", DAY, *extra],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _expected(tmp_path: Path) -> dict[str, set[str]]:
    """What a clean run sends each subscriber: a dry-run on a fresh store of its own."""
    config = _config(tmp_path / "reference", 25, "")
    out = tmp_path / "reference" / "eml"
    argv = [sys.executable, "-m", "digest", "run", "--once", "--dry-run", "--config", str(config)]
    done = subprocess.run(
        [*argv, "--now", DAY, "--outbox", str(out)],
        cwd=ROOT,
        capture_output=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    papers: dict[str, set[str]] = {}
    for eml in out.glob("*.eml"):
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
        body = message.get_body(("html",))  # type: ignore[attr-defined]
        papers[str(message["To"]).split("<")[-1].rstrip(">")] = set(paper_links(body.get_content()))
    assert len(papers) == len(PEOPLE)
    return papers


@pytest.mark.parametrize(
    ("backend", "instances"),
    [("sqlite", 1), ("postgresql", 1), ("postgresql", 2)],
)
def test_random_kills_lose_nothing_and_duplicate_only_the_wire(
    backend: str,
    instances: int,
    tmp_path: Path,
    smtp_server: SmtpServer,
    request: pytest.FixtureRequest,
) -> None:
    """Ten SIGKILLs at random moments of runs (one process, or one of two), then one run
    left to finish: nothing lost, at most `connections` duplicates per kill, one Message-ID
    per subscriber."""
    url = request.getfixturevalue("pg_url") if backend == "postgresql" else ""
    config = _config(tmp_path / "live", smtp_server.port, url)
    smtp_server.handler.data_delay = 0.03
    rng = random.Random(f"{backend}-{instances}")
    for _ in range(KILLS):
        procs = [_start(config) for _ in range(instances)]
        time.sleep(rng.uniform(0.3, 3.0))  # start-up, fetch, plan or send
        victim = rng.choice(procs)
        victim.send_signal(signal.SIGKILL)
        for proc in procs:
            if proc is not victim:
                proc.wait(timeout=120)
        victim.wait(timeout=30)
    final = _start(config)
    assert final.wait(timeout=120) == 0

    got: dict[str, list[str]] = defaultdict(list)
    papers: dict[str, set[str]] = defaultdict(set)
    for record in smtp_server.received:
        (rcpt,) = record.rcpt_tos
        got[rcpt].append(str(record.message["Message-ID"]))
        papers[rcpt] |= set(paper_links(record.message.get_body(("html",)).get_content()))
    assert dict(papers) == _expected(tmp_path), "a subscriber lost (or gained) papers"
    duplicates = sum(len(ids) - 1 for ids in got.values())
    print(f"{backend} x{instances}: {KILLS} kills, {duplicates} duplicates")  # for the notes
    assert duplicates <= KILLS * CONNECTIONS, got
    for who, ids in got.items():
        assert len(set(ids)) == 1, (who, ids)
