"""GET /metrics on a real `digest web` and `digest serve`: the Prometheus text format, a
bearer token when configured, run and request counts after a scheduled run, and never an
address in a label."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from digest.metrics import reason_class
from tests.cli_helpers import run_cli, wait_until
from tests.servers import SmtpServer
from tests.web_helpers import SECRET, base_url, endpoint, web_config

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


def test_source_failures_fall_into_a_few_reason_classes() -> None:
    """A failure message maps to one of a few fixed label values, never itself."""
    assert reason_class("source 'a': GET x got no complete answer within 60 s") == "timeout"
    assert reason_class("cannot resolve host 'x.invalid'") == "dns"
    assert reason_class("not a complete RSS/Atom document (SAXParseException)") == "not_a_feed"
    assert reason_class("something new") == "other"
