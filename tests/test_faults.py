"""Injected faults against real loopback servers: hostile links, compression bombs, broken
and endless sources, a failing store, a clock stepped back, a stop mid-send. Each checks the
exit code, that no traceback escapes, the clear message, and that nothing is lost once the
fault clears."""

from __future__ import annotations

import json
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import zlib
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.store import Store
from tests.cli_helpers import run_cli, wait_until
from tests.conftest import LISTINGS, fixture_bytes, write_config
from tests.servers import HttpServer, Reply, SmtpServer

pytestmark = pytest.mark.slow  # starts the CLI or servers in processes

DAY = "2025-09-15T07:30:00+00:00"
ADA = {"name": "Ada", "email": "ada@example.org", "keywords": ["network", "learning"]}
BOB = {"name": "Bob", "email": "bob@example.org", "keywords": ["model"]}
HREF = re.compile(r'href="([^"]*)"', re.I)


def _cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`digest run` as a separate process, as cron would run it."""
    return subprocess.run(
        [sys.executable, "-m", "digest", "run", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


def _hrefs(eml: Path) -> list[str]:
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    html = message.get_body(("html",))
    assert html is not None
    return HREF.findall(str(html.get_content()))


HOSTILE_RSS = b"""
  <?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Lab blog</title><link>https://lab.example/</link>
<item><title>Network learning one</title><link>javascript:alert(document.cookie)</link>
  <guid isPermaLink="false">x1</guid><description>network learning</description></item>
<item><title>Network learning two</title><link> JaVaScRiPt:alert(1)</link>
  <guid>https://lab.example/posts/2</guid><description>network learning</description></item>
<item><title>Network learning three</title><link>data:text/html;base64,PHNjcmlwdD4=</link>
  <guid isPermaLink="false">x3</guid><description>network learning</description></item>
<item><title>Network learning four</title><link>/posts/4</link>
  <guid isPermaLink="false">x4</guid><description>network learning</description></item>
<item><title>Network learning five</title><link>&amp;#106;avascript:alert(5)</link>
  <guid isPermaLink="false">x5</guid><description>network learning</description></item>
</channel></rss>
"""


def _hostile_hf() -> bytes:
    items = json.loads(fixture_bytes("hf_daily_papers.json"))[:3]
    for item, (code, page) in zip(
        items,
        [
            ("javascript:alert(1)", "vbscript:msgbox(1)"),
            ("DATA:text/html,x", " javascript:x"),
            ("https://github.com/ok/ok", "file:///etc/passwd"),
        ],
        strict=True,
    ):
        item["paper"]["githubRepo"] = code
        item["paper"]["projectPage"] = page
        item["paper"]["title"] = "Network learning " + item["paper"]["title"]
    return json.dumps(items).encode()


def test_only_web_links_reach_the_email(
    tmp_path: Path, http_server: HttpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item links and Hugging Face code/project links with javascript:, data:, vbscript: or
    file: schemes (any case, whitespace, entities) never become an href; a relative link is
    resolved against the feed; an unsafe link falls back to a guid URL or to no link."""
    http_server.routes["/blog/feed.xml"] = Reply(HOSTILE_RSS)
    http_server.routes["/hf.json"] = Reply(_hostile_hf())
    config = write_config(
        tmp_path,
        sources=[("blog", http_server.url("/blog/feed.xml"))],
        subscribers=[{**ADA, "max_papers": 50}],
        extra=f'\n[[sources]]\nname = "hf"\ntype = "hf-daily"\nurl = "{http_server.url("/hf.json")}"\n',
    )
    result = run_cli(capsys, "run", "--dry-run", "--config", config, "--now", DAY)
    assert result.code == 0, result.out + result.err
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    hrefs = _hrefs(eml)
    assert hrefs and all(h.startswith(("https://", "http://", "mailto:")) for h in hrefs), hrefs
    assert http_server.url("/posts/4") in hrefs  # relative, resolved against the fetched URL
    assert "https://lab.example/posts/2" in hrefs  # unsafe link, guid is a URL
    assert "https://github.com/ok/ok" in hrefs
    text = eml.read_text(errors="replace").lower()
    for bad in ("javascript:", "vbscript:", "data:text", "file:///"):
        assert bad not in text


# `digest ARGS` in this process, then its own peak RSS on stderr (a child's getrusage would
# report the largest of all the test run's children)
PEAK = (
    "import resource, runpy, sys\n"
    "sys.argv = ['digest', *sys.argv[1:]]\n"
    "try:\n"
    "    runpy.run_module('digest', run_name='__main__')\n"
    "finally:\n"
    "    print('peak-rss-kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
)


def _gzip_stream(chunks: Iterator[bytes]) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)  # gzip framing
    return b"".join(packer.compress(c) for c in chunks) + packer.flush()


def _bomb() -> bytes:
    """256 MiB of zeros gzipped twice, built a MiB at a time (this process stays small)."""
    inner = _gzip_stream(b"\0" * (1 << 20) for _ in range(256))
    return _gzip_stream(iter([inner]))


def test_a_compression_bomb_is_capped_on_decoded_bytes(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    """A tiny 'gzip, gzip' body that inflates to 256 MiB fails its source at [fetch]
    max_bytes with memory near the cap; the healthy source's digest still goes out."""
    bomb = _bomb()
    assert len(bomb) < 4096
    http_server.routes["/bomb.xml"] = Reply(bomb, headers={"Content-Encoding": "gzip, gzip"})
    http_server.routes["/ok.xml"] = Reply((LISTINGS / "day1.xml").read_bytes())
    config = write_config(
        tmp_path,
        sources=[("bomb", http_server.url("/bomb.xml")), ("ok", http_server.url("/ok.xml"))],
        subscribers=[ADA],
        smtp_port=smtp_server.port,
        extra="",
    )
    lexical = "\n[ranking]\nsemantic = false\n"  # no model in memory: the fetch shows
    config.write_text(
        config.read_text().replace("[fetch]\n", "[fetch]\nmax_bytes = 1048576\n") + lexical
    )
    (tmp_path / "baseline").mkdir()
    healthy = write_config(
        tmp_path / "baseline",
        sources=[("ok", http_server.url("/ok.xml"))],
        subscribers=[ADA],
        extra=lexical,
    )

    def peak(path: Path, *extra: str) -> tuple[subprocess.CompletedProcess[str], float]:
        done = subprocess.run(
            [sys.executable, "-c", PEAK, "run", "--config", str(path), "--now", DAY, *extra],
            capture_output=True,
            text=True,
            timeout=180,
        )
        return done, int(done.stderr.strip().splitlines()[-1].removeprefix("peak-rss-kib ")) / 1024

    _, base_mib = peak(healthy, "--dry-run")
    done, peak_mib = peak(config)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "1048576-byte limit (decoded)" in done.stdout
    assert [r.rcpt_tos for r in smtp_server.received] == [["ada@example.org"]]
    assert peak_mib - base_mib < 48, (
        f"peak RSS {peak_mib:.0f} MiB, {base_mib:.0f} MiB without the bomb"
    )


BROKEN = {
    "deep-json": (b"[" * 100_000 + b"]" * 100_000, {}, "nested too deep"),
    "huge-numbers": (None, {}, None),  # parsed, numbers bounded: not a failure
    "corrupt-gzip": (
        b"\x1f\x8b\x08\x00" + b"garbage" * 20,
        {"Content-Encoding": "gzip"},
        "corrupt compressed body",
    ),
    "not-a-feed": (b"<html><body>maintenance</body></html>", {}, "not"),
}


def test_one_broken_source_never_takes_down_the_run(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    """Deep JSON, numbers too large for the store, a corrupt gzip body, a redirect loop, a
    redirect to file:, an HTML page: each fails (or is bounded) alone with a one-line
    reason, no traceback, and the healthy source's papers go out."""
    items = json.loads(fixture_bytes("hf_daily_papers.json"))[:2]
    items[0]["paper"]["upvotes"] = 10**30
    items[0]["numComments"] = -(10**25)
    items[1]["paper"]["id"] = "2509.99999v99999999999999999999"
    http_server.routes["/huge-numbers"] = Reply(json.dumps(items).encode())
    for name, (body, headers, _) in BROKEN.items():
        if body is not None:
            http_server.routes[f"/{name}"] = Reply(body, headers=headers)
    http_server.routes["/loop-a"] = Reply(b"", status=302, headers={"Location": "/loop-b"})
    http_server.routes["/loop-b"] = Reply(b"", status=302, headers={"Location": "/loop-a"})
    http_server.routes["/to-file"] = Reply(
        b"", status=302, headers={"Location": "file:///etc/passwd"}
    )
    http_server.routes["/ok.xml"] = Reply((LISTINGS / "day1.xml").read_bytes())
    names = [*BROKEN, "loop-a", "to-file"]
    extra = "".join(
        f'\n[[sources]]\nname = "{n}"\ntype = "{"hf-daily" if n in ("deep-json", "huge-numbers") else "feed"}"\nurl = "{http_server.url("/" + n)}"\n'
        for n in names
    )
    config = write_config(
        tmp_path,
        sources=[("ok", http_server.url("/ok.xml"))],
        subscribers=[ADA],
        smtp_port=smtp_server.port,
        extra=extra,
    )
    done = _cli(config, "--now", DAY)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    lines = {
        line.split()[1].rstrip(":"): line
        for line in done.stdout.splitlines()
        if line.startswith("  ") and len(line.split()) > 1
    }
    for name, (_, _, words) in BROKEN.items():
        if words:
            assert lines[name].split()[0] == "failed" and words in lines[name], lines[name]
    assert lines["huge-numbers"].split()[0] == "ok"
    assert "redirects in a loop" in lines["loop-a"]
    assert "not an http(s) URL" in lines["to-file"]
    assert [r.rcpt_tos for r in smtp_server.received] == [["ada@example.org"]]
    db = sqlite3.connect(tmp_path / "state" / "digest.sqlite3")
    assert db.execute("select max(upvotes) from papers").fetchone()[0] == 2**31 - 1
    assert (
        db.execute("select version from papers where id = 'arxiv:2509.99999'").fetchone()[0] is None
    )


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        sock.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(sock.accept()[0])
            except TimeoutError:
                continue
            except OSError:
                return

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield sock.getsockname()[1]
    stop.set()
    thread.join(5)
    for conn in held:
        conn.close()
    sock.close()


def test_dead_silent_and_unknown_sources_fail_fast_and_clearly(
    tmp_path: Path, silent_port: int, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    """An unresolvable host is not retried and named; a refused port says so; a server that
    accepts and never answers is cut at the [fetch] deadline with a log line that it is slow."""
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    refused_port = closed.getsockname()[1]
    closed.close()
    http_server.routes["/ok.xml"] = Reply((LISTINGS / "day1.xml").read_bytes())
    extra = (
        '\n[[sources]]\nname = "nxdomain"\nurl = "http://no-such-host.invalid/feed.xml"\n'
        f'\n[[sources]]\nname = "refused"\nurl = "http://127.0.0.1:{refused_port}/feed.xml"\n'
        f'\n[[sources]]\nname = "silent"\nurl = "http://127.0.0.1:{silent_port}/feed.xml"\n'
    )
    config = write_config(
        tmp_path,
        sources=[("ok", http_server.url("/ok.xml"))],
        subscribers=[ADA],
        smtp_port=smtp_server.port,
        extra=extra,
    )
    text = (
        config.read_text()
        .replace("[fetch]\n", "[fetch]\ndeadline = 2\n")
        .replace("timeout = 5", "timeout = 30")
        .replace("retries = 1", "retries = 3")
    )
    config.write_text(text)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "digest",
            "--log-level",
            "warning",
            "run",
            "--config",
            str(config),
            "--now",
            DAY,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "Traceback" not in done.stderr
    out = done.stdout
    assert (
        "cannot resolve host 'no-such-host.invalid'" in out
        and "attempts" not in out.split("nxdomain:")[1].splitlines()[0]
    )
    assert f"127.0.0.1:{refused_port} refused the connection" in out
    assert "no complete answer within 2 s" in out
    assert "source silent: no answer yet after 1 s" in done.stderr
    assert [r.rcpt_tos for r in smtp_server.received] == [["ada@example.org"]]


def _ledger_trap(db: Path) -> None:
    """Make the store refuse delivery rows for a second subscriber, as a full disk would (a
    real SQLite failure, raised inside the database)."""
    with sqlite3.connect(db) as conn:
        conn.execute(
            "CREATE TRIGGER trap BEFORE INSERT ON deliveries "
            "WHEN (SELECT count(DISTINCT subscriber) FROM deliveries) >= 2 "
            "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
        )


def test_a_failing_ledger_stops_sending_and_the_rerun_sends_each_digest_at_most_once_more(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """When recording a delivery fails, no new message starts: the report says why, exit 1.
    After the fault clears, the re-run delivers every due digest; only the unrecorded one
    goes out a second time, with the same Message-ID."""
    people = [
        {"name": f"R{i}", "email": f"r{i}@example.org", "keywords": ["network"]} for i in range(6)
    ]
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=people,
        smtp_port=smtp_server.port,
    )
    config.write_text(
        config.read_text().replace("retries = 2\n", "retries = 2\nconnections = 1\n", 1)
    )
    db = tmp_path / "state" / "digest.sqlite3"
    Store.sqlite(db).close()  # an empty store, so the fault can be planted before the run
    _ledger_trap(db)
    first = _cli(config, "--now", DAY)
    assert first.returncode == 1 and "Traceback" not in first.stderr
    assert "stopped sending: the store cannot record deliveries" in first.stdout
    assert "database or disk is full" in first.stdout
    # the trap fires inside the second subscriber's ledger write: one recorded, one sent but
    # unrecorded, and the four still waiting are never sent
    assert first.stdout.count("  unrecorded ") == 1 and first.stdout.count("  stopped ") == 4
    sent_first = [r.rcpt_tos[0] for r in smtp_server.received]
    assert len(sent_first) == 2
    with sqlite3.connect(db) as conn:
        conn.execute("drop trigger trap")
    again = _cli(config, "--now", DAY)
    assert again.returncode == 0, again.stdout + again.stderr
    ids: dict[str, set[str]] = {}
    counts = Counter()
    for record in smtp_server.received:
        (rcpt,) = record.rcpt_tos
        counts[rcpt] += 1
        ids.setdefault(rcpt, set()).add(str(record.message["Message-ID"]))
    assert set(counts) == {p["email"] for p in people}, "nobody lost a digest"
    assert sum(counts.values()) - len(people) == 1, counts
    assert all(len(v) == 1 for v in ids.values()), "a re-sent digest keeps its Message-ID"


@pytest.mark.parametrize(
    ("setup", "words", "code"),
    [
        ("under-file", "cannot create its folder", 1),
        ("garbage", "file is not a database", 1),
        ("truncated", "store", 1),
        ("bad-url", "store.url", 2),
        ("disk-full", "database or disk is full", 1),
    ],
)
def test_store_faults_are_one_clear_line(tmp_path: Path, setup: str, words: str, code: int) -> None:
    """A store path under a regular file, a garbage or truncated SQLite file, an invalid
    [store] url, a full disk during ingest: one line naming the problem, the promised exit
    code, no traceback and no SQLAlchemy help link."""
    config = write_config(
        tmp_path, sources=[("day1", str(LISTINGS / "day1.xml"))], subscribers=[ADA]
    )
    text = config.read_text()
    state = tmp_path / "state"
    if setup == "under-file":
        state.write_text("a file where the folder should be")
    elif setup in ("garbage", "truncated", "disk-full"):
        state.mkdir()
        db = state / "digest.sqlite3"
        if setup == "garbage":
            db.write_bytes(b"this is not a database" * 100)
        else:
            Store.sqlite(db).close()
            if setup == "truncated":
                with sqlite3.connect(db) as conn:
                    conn.execute("pragma wal_checkpoint(TRUNCATE)")
                db.write_bytes(db.read_bytes()[:3000])
            else:
                with sqlite3.connect(db) as conn:
                    conn.execute(
                        "CREATE TRIGGER full BEFORE INSERT ON papers BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
                    )
    elif setup == "bad-url":
        config.write_text(text.replace('path = "state/digest.sqlite3"', 'url = "nonsense://::"'))
    done = _cli(config, "--now", DAY)
    assert done.returncode == code, done.stdout + done.stderr
    output = done.stdout + done.stderr
    assert words in output
    assert "Traceback" not in output and "sqlalche.me" not in output


def test_a_clock_stepped_back_never_hides_papers(
    tmp_path: Path, http_server: HttpServer, smtp_server: SmtpServer
) -> None:
    """A run stamped an hour ahead, then the clock corrected: the papers first seen in
    between still reach the subscriber, each once."""
    http_server.routes["/feed.xml"] = [
        Reply((LISTINGS / "day1.xml").read_bytes()),
        Reply((LISTINGS / "day2.xml").read_bytes()),
    ]
    config = write_config(
        tmp_path,
        sources=[("f", http_server.url("/feed.xml"))],
        subscribers=[
            {**ADA, "keywords": ["learning", "model", "data", "method"], "max_papers": 200}
        ],
        smtp_port=smtp_server.port,
    )
    ahead = datetime(2025, 9, 16, 8, 30, tzinfo=UTC)
    assert _cli(config, "--now", ahead.isoformat()).returncode == 0
    corrected = ahead - timedelta(hours=1)
    second = _cli(config, "--now", corrected.isoformat())
    assert second.returncode == 0, second.stdout + second.stderr
    assert len(smtp_server.received) == 2, second.stdout
    db = sqlite3.connect(tmp_path / "state" / "digest.sqlite3")
    new_on_day2 = db.execute("select count(*) from papers where seq > 119").fetchone()[0]
    sent_from_day2 = db.execute(
        "select count(*) from deliveries join papers on papers.id = deliveries.paper_id where papers.seq > 119"
    ).fetchone()[0]
    assert new_on_day2 == 38 - 7 and sent_from_day2 > 20


def test_one_address_twice_in_the_config_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two subscribers with one email address: exit 2 naming both entries, never two emails."""
    config = write_config(
        tmp_path, sources=[("a", "a.xml")], subscribers=[ADA, {**BOB, "email": "ADA@example.org"}]
    )
    result = run_cli(capsys, "run", "--dry-run", "--config", config)
    assert result.code == 2
    assert (
        "subscribers[1].email" in result.err
        and "subscribers[0]" in result.err
        and "'Ada'" in result.err
    )


def test_sigterm_mid_send_finishes_records_and_exits_0(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """SIGTERM to `digest serve` while a message is on the wire: that message is accepted and
    recorded, nothing new starts, the run is recorded, no traceback, exit 0."""
    people = [
        {"name": f"R{i}", "email": f"r{i}@example.org", "keywords": ["network"]} for i in range(4)
    ]
    at = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%H:%M:%S")
    days = '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]'
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=people,
        smtp_port=smtp_server.port,
        extra=f'\n[schedule]\ntime = "{at}"\ntimezone = "UTC"\ndays = {days}\n',
    )
    config.write_text(
        config.read_text().replace("retries = 2\n", "retries = 2\nconnections = 1\n", 1)
    )
    smtp_server.handler.hold_after = 1  # the second message waits on the wire
    service = subprocess.Popen(
        [sys.executable, "-m", "digest", "serve", "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_until(lambda: smtp_server.handler.held > 0, timeout=60), "no second message"
        service.send_signal(signal.SIGTERM)
        threading.Timer(1.0, lambda: setattr(smtp_server.handler, "hold_after", None)).start()
        _, err = service.communicate(timeout=60)
    finally:
        if service.poll() is None:
            service.kill()
    assert service.returncode == 0, err
    assert "Traceback" not in err and "CancelledError" not in err
    assert len(smtp_server.received) == 2
    db = sqlite3.connect(tmp_path / "state" / "digest.sqlite3")
    assert db.execute("select count(distinct subscriber) from deliveries").fetchone()[0] == 2
    (report,) = [json.loads(r[0]) for r in db.execute("select report from runs")]
    statuses = Counter(d["status"] for d in report["deliveries"])
    assert statuses == {"sent": 2, "stopped": 2}


def test_reports_agree_on_counts_and_times(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The run report, the Subject and `status` give the same paper count for a digest, in
    one vocabulary ('1 subscriber', '5 papers'); `status --json` has one ISO 8601 format."""
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=[{**BOB, "keywords": ["pruning"], "max_papers": 2}],
        smtp_port=smtp_server.port,
    )
    result = run_cli(capsys, "run", "--config", config, "--now", DAY)
    assert result.code == 0, result.out + result.err
    reported = int(re.search(r"Bob <bob@example.org>: (\d+) papers? ->", result.out).group(1))
    (message,) = [r.message for r in smtp_server.received]
    subject = int(re.match(r"(\d+) new papers?", str(message["Subject"])).group(1))
    status = run_cli(capsys, "status", "--config", config)
    sent = int(
        re.search(
            r"Bob <bob@example.org>: last delivery \S+, (\d+) papers? sent", status.out
        ).group(1)
    )
    assert reported == subject == sent, (reported, subject, sent)
    check = run_cli(capsys, "check", "--config", config)
    assert "(1 subscriber)" in check.out
    data = json.loads(run_cli(capsys, "status", "--config", config, "--json").out)
    stamps = [
        data["runs"][0]["started"],
        data["runs"][0]["finished"],
        data["subscribers"][0]["last_delivery"],
    ]
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", t) for t in stamps), (
        stamps
    )


def test_test_email_against_a_plain_port_tries_once_and_hints(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`test-email` with security = "tls" against a plain-text SMTP server makes one attempt
    and says what to change."""
    config = write_config(
        tmp_path, sources=[("a", "a.xml")], subscribers=[ADA], smtp_port=smtp_server.port
    )
    config.write_text(config.read_text().replace('security = "none"', 'security = "tls"'))
    started = datetime.now(UTC)
    result = run_cli(capsys, "test-email", "--config", config, "--to", "me@example.org")
    assert result.code == 1
    assert 'use security = "starttls" or "none"' in result.err
    assert (datetime.now(UTC) - started).total_seconds() < 10
    assert smtp_server.received == []


@pytest.mark.parametrize(
    ("url", "private"),
    [
        ("http://127.0.0.1/x", True),
        ("http://localhost:8080/x", True),
        ("http://[::1]/x", True),
        ("http://10.1.2.3/x", True),
        ("http://192.168.0.1/x", True),
        ("http://172.16.5.5/x", True),
        ("http://169.254.169.254/latest/meta-data", True),
        ("http://0.0.0.0/x", True),
        ("http://[fd00::1]/x", True),
        ("http://93.184.216.34/x", False),
        ("https://[2606:4700::1111]/x", False),
    ],
)
async def test_private_addresses_are_recognised(url: str, private: bool) -> None:
    """Loopback, private, link-local (cloud metadata) and unspecified addresses count as
    private for the redirect rule; public ones do not (tests cannot host a public address,
    so the public-to-private refusal itself is pinned here, at the address check)."""
    from digest.fetch import _private

    assert await _private(url) is private
