"""GET /metrics on a real `digest web` and `digest serve`: the Prometheus text format, a
bearer token when configured, run and request counts after a scheduled run, and never an
address in a label."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from digest.metrics import reason_class
from tests.cli_helpers import run_cli, wait_until
from tests.conftest import LISTINGS, ROOT
from tests.imap_server import ImapServer
from tests.servers import SmtpServer
from tests.web_helpers import SECRET, base_url, endpoint, free_port, web_config

pytestmark = pytest.mark.slow  # starts the endpoint and the service in processes
ALL_DAYS = '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]'


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_TEST_SECRET", SECRET)
    monkeypatch.setenv("DIGEST_TEST_METRICS", "metrics-token-for-tests")


def test_metrics_need_the_bearer_token_and_count_requests_without_addresses(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """With metrics_token_env, /metrics without the token is a 401 with the security
    headers; with it, the text format with process metrics and one counter per route and
    status, and no address anywhere."""
    config = web_config(tmp_path, smtp_server.port)
    config.write_text(
        config.read_text().replace(
            'secret_env = "DIGEST_TEST_SECRET"\n',
            'secret_env = "DIGEST_TEST_SECRET"\nmetrics_token_env = "DIGEST_TEST_METRICS"\n',
        )
    )
    assert (
        run_cli(capsys, "run", "--config", config, "--now", datetime.now(UTC).isoformat()).code == 0
    )
    leave = re.search(r"<([^>]+)>", str(smtp_server.received[0].message["List-Unsubscribe"]))
    assert leave is not None
    base = base_url(config)
    with endpoint(config):
        httpx.get(leave.group(1))
        httpx.get(base + "/no/such/page")
        refused = httpx.get(base + "/metrics")
        assert (
            refused.status_code == 401
            and "default-src 'none'" in refused.headers["content-security-policy"]
        )
        wrong = httpx.get(base + "/metrics", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        shown = httpx.get(
            base + "/metrics", headers={"Authorization": "Bearer metrics-token-for-tests"}
        )
    assert shown.status_code == 200 and shown.headers["content-type"].startswith("text/plain")
    text = shown.text
    assert "process_cpu_seconds_total" in text
    assert 'digest_web_requests_total{outcome="200",route="u"} 1.0' in text
    assert 'digest_web_requests_total{outcome="404",route="other"} 1.0' in text
    assert "@" not in text and "network" not in text


def test_serve_counts_its_runs_digests_sources_and_durations(
    tmp_path: Path, smtp_server: SmtpServer
) -> None:
    """After a scheduled run under `digest serve`, /metrics counts the run by outcome, the
    digests by status, each source's papers, the phase durations and the last success."""
    at = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%H:%M:%S")
    config = web_config(
        tmp_path,
        smtp_server.port,
        extra=f'\n[schedule]\ntime = "{at}"\ntimezone = "UTC"\ndays = {ALL_DAYS}\n',
    )
    base = base_url(config)
    with endpoint(config, "serve"):
        assert wait_until(lambda: len(smtp_server.received) == 2, timeout=60)

        def counted() -> bool:
            return "digest_runs_finished_total{" in httpx.get(base + "/metrics").text

        assert wait_until(counted, timeout=10)
        time.sleep(0.2)
        text = httpx.get(base + "/metrics").text
    assert re.search(r'digest_runs_started_total\{group="[^"]+"\} 1\.0', text)
    assert re.search(r'digest_runs_finished_total\{group="[^"]+",outcome="ok"\} 1\.0', text)
    assert 'digest_digests_total{status="sent"} 2.0' in text
    assert 'digest_papers_fetched_total{source="day"} 119.0' in text
    assert 'digest_run_phase_seconds_count{phase="send"} 1.0' in text
    assert re.search(
        r"digest_last_successful_run_timestamp_seconds\{group=\"[^\"]+\"\} 1\.\d+e\+09", text
    )
    assert "@" not in text


def test_an_unset_metrics_token_stops_only_what_serves_metrics(
    tmp_path: Path,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With metrics_token_env naming an unset variable, `status` and `subscribers` work,
    `check` says it as one failed line, and `web` refuses to start (exit 2)."""
    monkeypatch.delenv("DIGEST_TEST_METRICS")
    config = web_config(tmp_path, smtp_server.port)
    config.write_text(
        config.read_text().replace(
            'secret_env = "DIGEST_TEST_SECRET"\n',
            'secret_env = "DIGEST_TEST_SECRET"\nmetrics_token_env = "DIGEST_TEST_METRICS"\n',
        )
    )
    assert run_cli(capsys, "status", "--config", config).code == 0
    assert run_cli(capsys, "subscribers", "--config", config).code == 0
    checked = run_cli(capsys, "check", "--config", config)
    assert checked.code == 1
    assert "failed: web.metrics_token_env: set the environment variable DIGEST_TEST_METRICS" in (
        checked.out
    )
    refused = run_cli(capsys, "web", "--config", config)
    assert refused.code == 2 and "web.metrics_token_env" in refused.err


def test_source_failures_fall_into_a_few_reason_classes() -> None:
    """A failure message maps to one of a few fixed label values, never itself."""
    assert reason_class("source 'a': GET x got no complete answer within 60 s") == "timeout"
    assert reason_class("cannot resolve host 'x.invalid'") == "dns"
    assert reason_class("not a complete RSS/Atom document (SAXParseException)") == "not_a_feed"
    assert reason_class("something new") == "other"


def test_metrics_after_a_run_with_a_failing_source_and_bounces(
    tmp_path: Path, smtp_server: SmtpServer, imap_server: ImapServer
) -> None:
    """Under `digest serve` with [bounces]: a bounce message read from IMAP pauses Bob, the
    run refuses Cy at RCPT TO (550 5.1.1) and meets a dead source; /metrics, parsed with
    prometheus-client's own parser, counts both bounces by kind and way, two paused
    subscribers, the paused and failed digests, and the source failure."""
    from prometheus_client.parser import text_string_to_metric_families

    listing = tmp_path / "listing.xml"
    listing.write_bytes((LISTINGS / "day1.xml").read_bytes())
    cy = '\n[[subscribers]]\nname = "Cy"\nemail = "cy@example.org"\nkeywords = ["learning"]\n'
    dead = f'\n[[sources]]\nname = "dead"\nurl = "http://127.0.0.1:{free_port()}/feed"\n'
    mailbox = (
        f'\n[bounces]\nhost = "{imap_server.host}"\nport = {imap_server.port}\n'
        f'security = "none"\nusername = "{imap_server.user}"\npassword_env = "DIGEST_TEST_IMAP"\n'
    )
    config = web_config(tmp_path, smtp_server.port, extra=cy + dead + mailbox)
    config.write_text(config.read_text().replace(str(LISTINGS / "day1.xml"), str(listing)))
    env = {"DIGEST_TEST_IMAP": imap_server.password}
    first = subprocess.run(
        [sys.executable, "-m", "digest", "run", "--config", str(config)],
        capture_output=True,
        text=True,
        env={**os.environ, **env, "DIGEST_TEST_SECRET": SECRET},
        timeout=120,
    )
    assert first.returncode == 1 and len(smtp_server.received) == 3, first.stdout  # dead source
    bounce = (ROOT / "tests/data/bounces/postfix_hard.eml").read_bytes()
    imap_server.append("INBOX", bounce.replace(b"gone@lab.example", b"bob@example.org"))
    listing.write_bytes((LISTINGS / "day2.xml").read_bytes())
    smtp_server.handler.reject["cy@example.org"] = "550 5.1.1 <cy@example.org>: no mailbox"
    at = (datetime.now(UTC) + timedelta(seconds=4)).strftime("%H:%M:%S")
    schedule = f'\n[schedule]\ntime = "{at}"\ntimezone = "UTC"\ndays = {ALL_DAYS}\n'
    config.write_text(config.read_text() + schedule)
    base = base_url(config)
    with endpoint(config, "serve", env=env):

        def counted() -> bool:
            return "digest_runs_finished_total{" in httpx.get(base + "/metrics").text

        assert wait_until(counted, timeout=60)
        # the paused gauge is set once the run's report is counted: wait for that too
        assert wait_until(
            lambda: "digest_paused_subscribers 2.0" in httpx.get(base + "/metrics").text, 10
        )
        text = httpx.get(base + "/metrics").text
    values = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }
    assert values[("digest_bounces_total", (("kind", "hard"), ("via", "dsn")))] == 1
    assert values[("digest_bounces_total", (("kind", "hard"), ("via", "smtp")))] == 1
    assert values[("digest_bounces_total", (("kind", "ignored"), ("via", "dsn")))] == 0
    assert values[("digest_paused_subscribers", ())] == 2
    assert values[("digest_digests_total", (("status", "sent"),))] == 1
    assert values[("digest_digests_total", (("status", "paused"),))] == 1
    assert values[("digest_digests_total", (("status", "failed"),))] == 1
    assert (
        values[("digest_source_failures_total", (("reason", "refused"), ("source", "dead")))] == 1
    )
    assert values[("digest_source_failures_in_a_row", (("source", "dead"),))] == 1
    assert values[("digest_source_failures_in_a_row", (("source", "day"),))] == 0
    assert values[("digest_smtp_retries_total", ())] == 0
    assert ("digest_run_phase_seconds_count", (("phase", "plan"),)) in values
    assert values[("digest_run_phase_seconds_sum", (("phase", "send"),))] > 0
    assert "@" not in text
