"""Several `digest run` processes on one PostgreSQL with one SMTP sink: a run is shared, every
subscriber gets exactly one digest, the work is split, and a SIGKILLed instance's share is
finished by the others or by its restart (nothing lost; a duplicate only for what it had on
the wire, with the same Message-ID)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.cli_helpers import run_cli, wait_until
from tests.conftest import LISTINGS, write_config
from tests.servers import SmtpServer

pytestmark = pytest.mark.slow  # starts the CLI or servers in processes

DAY1 = "2025-09-15T07:30:00+00:00"
ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, url: str, smtp: SmtpServer, people: int, *, failover: float) -> Path:
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=[
            {"name": f"R{i}", "email": f"r{i}@example.org", "keywords": ["network"]}
            for i in range(people)
        ],
        smtp_port=smtp.port,
    )
    text = config.read_text().replace(
        'path = "state/digest.sqlite3"',
        f'url = "{url}"\nfailover_seconds = {failover}',
    )
    text = text.replace("[smtp]\n", "[smtp]\nconnections = 1\n")
    config.write_text(text + "\n[ranking]\nsemantic = false\n")
    return config


def _start(config: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "digest", "run", "--config", str(config), "--now", DAY1]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )


def _sent(out: str) -> int:
    found = re.search(r"emails: (\d+) sent", out)
    return int(found.group(1)) if found else 0


@pytest.mark.parametrize("instances", [2, 3])
def test_instances_split_a_run_and_each_subscriber_gets_one_digest(
    instances: int, pg_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """N processes started together on one PostgreSQL: exactly one digest per subscriber,
    every process exits 0 and sent some of them (the run was shared, not repeated)."""
    people = 18
    config = _config(tmp_path, pg_url, smtp_server, people, failover=30)
    smtp_server.handler.data_delay = 0.15  # a relay across a network: the run takes a while
    procs = [_start(config) for _ in range(instances)]
    outs = [p.communicate(timeout=180) for p in procs]
    for proc, (out, err) in zip(procs, outs, strict=True):
        assert proc.returncode == 0, out + err
    got = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert got == Counter({f"r{i}@example.org": 1 for i in range(people)})
    shares = [_sent(out) for out, _ in outs]
    assert sum(shares) == people and all(n > 0 for n in shares), shares
    assert sum(") taken up" in out for out, _ in outs) == instances - 1


def _kill_mid_send(
    config: Path, smtp: SmtpServer, others: int
) -> tuple[subprocess.Popen[str], list[subprocess.Popen[str]]]:
    """Start the victim (and `others`), hold the sink once 4 digests arrived, and SIGKILL
    the victim while its next digest is on the wire."""
    victim = _start(config)
    assert wait_until(lambda: len(smtp.received) >= 1, timeout=60), "nothing was sent"
    rest = [_start(config) for _ in range(others)]
    smtp.handler.hold_after = len(smtp.received) + 3
    assert wait_until(lambda: smtp.handler.held > 0, timeout=60), "never held"
    victim.send_signal(signal.SIGKILL)
    victim.communicate(timeout=30)  # reaped, its pipes closed
    smtp.handler.hold_after = None
    return victim, rest


def _assert_nothing_lost(smtp: SmtpServer, people: int, in_flight: int) -> None:
    got = Counter(r.rcpt_tos[0] for r in smtp.received)
    assert set(got) == {f"r{i}@example.org" for i in range(people)}  # nobody lost a digest
    twice = [who for who, n in got.items() if n > 1]
    assert len(twice) <= in_flight, got
    for who in twice:  # a duplicate is the same message: mail systems can drop it
        ids = {r.message["Message-ID"] for r in smtp.received if r.rcpt_tos[0] == who}
        assert len(ids) == 1


def test_a_killed_instance_s_subscribers_are_finished_by_the_others(
    pg_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """SIGKILL one of two instances mid-send: its session ends with it, the other takes its
    chunk over and finishes the run; nobody loses a digest."""
    people = 14
    config = _config(tmp_path, pg_url, smtp_server, people, failover=2)
    smtp_server.handler.data_delay = 0.1
    _, rest = _kill_mid_send(config, smtp_server, others=1)
    for proc in rest:
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, out + err
    _assert_nothing_lost(smtp_server, people, in_flight=1)


def test_a_stalled_instance_loses_its_share_and_resumes_sending_at_most_its_wire(
    pg_url: str, tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """SIGSTOP one of two instances mid-send for three times failover_seconds, then SIGCONT:
    the other takes its chunk over meanwhile; the stalled one, resumed, finds its session
    gone and stops. Every subscriber got a digest; a duplicate is only one that was on the
    stalled instance's wire (at most its 2 connections), with the same Message-ID."""
    people = 24
    config = _config(tmp_path, pg_url, smtp_server, people, failover=2)
    config.write_text(config.read_text().replace("connections = 1", "connections = 2"))
    smtp_server.handler.data_delay = 0.1
    stalled = _start(config)
    assert wait_until(lambda: len(smtp_server.received) >= 2, timeout=60), "nothing was sent"
    other = _start(config)
    assert wait_until(lambda: len(smtp_server.received) >= 6, timeout=60), "no progress"
    stalled.send_signal(signal.SIGSTOP)
    stopped = time.monotonic()
    try:
        time.sleep(6.0)  # a stall of three failover times
    finally:
        stalled.send_signal(signal.SIGCONT)
    out, err = other.communicate(timeout=120)
    assert other.returncode == 0, out + err
    s_out, s_err = stalled.communicate(timeout=60)
    assert stalled.returncode in (0, 1), s_out + s_err
    assert "Traceback" not in s_out + s_err
    assert "lost the session" in s_out + s_err, s_out + s_err  # it stopped on its own fence
    twice = len(smtp_server.received) - people
    print(f"stall: {twice} duplicates; {time.monotonic() - stopped:.1f} s from SIGSTOP to the end")
    _assert_nothing_lost(smtp_server, people, in_flight=2)


def test_a_killed_instance_s_restart_finishes_the_run(
    pg_url: str, tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """SIGKILL the only instance mid-send: status shows the run unfinished and held by
    nobody (the session died with the process); started again, it takes that run up at
    once and sends the rest; nobody loses a digest and status shows the run finished."""
    people = 8
    config = _config(tmp_path, pg_url, smtp_server, people, failover=2)
    smtp_server.handler.data_delay = 0.05
    _kill_mid_send(config, smtp_server, others=0)
    assert len(smtp_server.received) < people

    def released() -> bool:  # the server ends the dead session as soon as it sees the close
        return "held by" not in run_cli(capsys, "status", "--config", config).out

    assert wait_until(released, timeout=10), "the dead instance's locks were never freed"
    during = run_cli(capsys, "status", "--config", config)
    assert "run 1 [all subscribers] sending" in during.out, during.out
    again = _start(config)
    out, err = again.communicate(timeout=180)
    assert again.returncode == 0, out + err
    assert "run 1 of all subscribers" in out and ") taken up" in out
    _assert_nothing_lost(smtp_server, people, in_flight=1)
    after = run_cli(capsys, "status", "--config", config)
    assert "run 1 [all subscribers] finished" in after.out and "held by" not in after.out
    assert f":{again.pid}" in after.out  # the restart's own run report names it


def test_two_serve_instances_send_a_scheduled_run_once_and_a_stopped_one_hands_over(
    pg_url: str, tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two `serve` processes fire for the same send moment: one run, shared. SIGTERM to one
    mid-send: it finishes what is on its wire, gives its chunks back and exits 0; the other
    sends the rest at once (long before a 30 s failover would pass); exactly one digest per
    subscriber."""
    from datetime import UTC, datetime, timedelta

    people = 14
    config = _config(tmp_path, pg_url, smtp_server, people, failover=30)
    # both processes must be up before the send moment, even on a loaded machine
    at = (datetime.now(UTC) + timedelta(seconds=8)).strftime("%H:%M:%S")
    days = '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]'
    config.write_text(
        config.read_text() + f'\n[schedule]\ntime = "{at}"\ntimezone = "UTC"\ndays = {days}\n'
    )
    smtp_server.handler.data_delay = 0.2
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-m", "digest", "serve", "--config", str(config)]
    a, b = (
        subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    )
    try:
        assert wait_until(lambda: len(smtp_server.received) >= 4, timeout=60), "nothing sent"
        a.send_signal(signal.SIGTERM)
        _, a_err = a.communicate(timeout=30)
        assert a.returncode == 0, a_err
        stopped = len(smtp_server.received)
        assert wait_until(lambda: len(smtp_server.received) >= people, timeout=20), (
            f"{len(smtp_server.received)} of {people} after the hand-over"
        )
        assert stopped < people  # the other instance really finished the stopped one's share

        def finished() -> bool:  # received is not yet recorded: let the run end first
            return "] finished" in run_cli(capsys, "status", "--config", config).out

        assert wait_until(finished, timeout=20), "the run never finished"
        b.send_signal(signal.SIGTERM)
        _, b_err = b.communicate(timeout=30)
        assert b.returncode == 0, b_err
    finally:
        for proc in (a, b):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
    got = Counter(r.rcpt_tos[0] for r in smtp_server.received)
    assert got == Counter({f"r{i}@example.org": 1 for i in range(people)})
    status = run_cli(capsys, "status", "--config", config)
    assert "run 1 [" in status.out and "finished" in status.out and "run 2 [" not in status.out, (
        status.out
    )
