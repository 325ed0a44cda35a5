"""Every wait on the store is bounded: a table locked by another session fails the run
within [store] lock_timeout with a line naming the store and the lock (and the next run
finishes the work), and a database address that accepts TCP but never answers fails every
command within connect_timeout."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests.conftest import LISTINGS, ROOT, write_config
from tests.servers import SmtpServer

pytestmark = pytest.mark.slow  # processes

DAY = "2025-09-15T07:30:00+00:00"
PEOPLE = [
    {"name": f"R{i}", "email": f"r{i}@example.org", "keywords": ["network"]} for i in range(4)
]


def _config(tmp_path: Path, url: str, smtp_port: int, store: str) -> Path:
    path = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=PEOPLE,
        smtp_port=smtp_port,
        extra="\n[ranking]\nsemantic = false\n",
    )
    path.write_text(
        path.read_text().replace('path = "state/digest.sqlite3"', f'url = "{url}"\n{store}')
    )
    return path


def _digest(*args: str, timeout: float = 120) -> tuple[int, str, float]:
    """Run `digest ARGS` in a process: (exit code, stdout + stderr, seconds taken)."""
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "digest", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


@pytest.mark.postgres
def test_a_locked_table_fails_the_run_within_lock_timeout_and_the_next_run_finishes(
    pg_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """Another session holds papers in ACCESS EXCLUSIVE mode (an admin's open transaction):
    the run ends with exit 1 within a few seconds of its 2 s lock_timeout, saying which
    store and that a lock timed out, and sends nothing; once released, the next run sends
    every digest."""
    config = _config(tmp_path, pg_url, smtp_server.port, "lock_timeout = 2")
    engine = create_engine(pg_url)
    from digest.store import Store

    Store(pg_url).close()  # the schema exists, as on a store that ran before
    with engine.connect() as admin:
        admin.execute(text("BEGIN"))
        admin.execute(text("LOCK TABLE papers IN ACCESS EXCLUSIVE MODE"))
        code, out, took = _digest("run", "--once", "--config", str(config), "--now", DAY)
        admin.execute(text("ROLLBACK"))
    engine.dispose()
    assert code == 1, out
    assert took < 20, took
    assert "lock timeout" in out and "127.0.0.1:5432" in out and "Traceback" not in out, out
    assert not smtp_server.received
    code, out, _ = _digest("run", "--once", "--config", str(config), "--now", DAY)
    assert code == 0, out
    assert Counter(r.rcpt_tos[0] for r in smtp_server.received) == Counter(
        {p["email"]: 1 for p in PEOPLE}
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts TCP connections and never says a word."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    server.close()


@pytest.mark.parametrize("command", [["run", "--once"], ["status"], ["subscribers"]])
def test_a_database_that_never_answers_fails_each_command_within_connect_timeout(
    silent_port: int, tmp_path: Path, command: list[str]
) -> None:
    """With connect_timeout = 2 every command on a silent address ends within a few seconds
    with exit 1 and one line naming the store, without a traceback or the password."""
    url = f"postgresql+psycopg://digest:s3cret@127.0.0.1:{silent_port}/digest"
    config = _config(tmp_path, url, 25, "connect_timeout = 2")
    code, out, took = _digest(*command, "--config", str(config), timeout=60)
    assert code == 1, out
    assert took < 12, took
    assert f"127.0.0.1:{silent_port}" in out and "s3cret" not in out, out
    assert "Traceback" not in out, out
