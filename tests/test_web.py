"""Subscriber links end to end over loopback: a real run's digest carries signed links, the
`digest web` endpoint answers them (RFC 8058 one-click, a confirmation page that changes
nothing on GET, resubscribe, the digest in a browser, health), the next run skips who
left, and the CLI lists and undoes opt-outs."""

from __future__ import annotations

import re
import signal
import socket
from pathlib import Path

import httpx
import pytest

from tests.cli_helpers import paper_links, run_cli, wait_until
from tests.servers import SmtpServer
from tests.web_helpers import SECRET, base_url, endpoint, web_config

DAY1 = "2025-09-15T07:30:00+00:00"
DAY2 = "2025-09-16T07:30:00+00:00"


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_TEST_SECRET", SECRET)


def _links(smtp: SmtpServer, who: str) -> tuple[str, str, str]:
    """(one-click URL from List-Unsubscribe, List-Unsubscribe-Post, view URL) of the
    newest digest to `who`."""
    message = [r for r in smtp.received if r.rcpt_tos == [who]][-1].message
    first = re.search(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    assert first is not None
    html = message.get_body(("html",))
    assert html is not None
    view = re.search(r'href="([^"]+/d/[^"]+)"[^>]*>View in browser', str(html.get_content()))
    assert view is not None
    return first.group(1), str(message["List-Unsubscribe-Post"]), view.group(1)


def test_digest_links_and_the_one_click_post_as_a_mailbox_provider_sends_it(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The digest's List-Unsubscribe names the endpoint with one-click; a GET shows the
    address and changes nothing; the RFC 8058 POST unsubscribes at once (200); the next
    run skips that subscriber (counted) and still serves the other; status and
    `subscribers` show it; `subscribers resubscribe` undoes it."""
    config = web_config(tmp_path, smtp_server.port)
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    leave, post, _ = _links(smtp_server, "ada@example.org")
    # an http:// base_url (allow_http, for tests) drops one-click: providers want https
    assert leave.startswith(base_url(config) + "/u/") and post == "None"
    with endpoint(config):
        page = httpx.get(leave)
        assert page.status_code == 200 and "ada@example.org" in page.text
        assert 'name="List-Unsubscribe" value="One-Click"' in page.text
        listed = run_cli(capsys, "subscribers", "--config", config)
        assert "Ada <ada@example.org>: active" in listed.out  # the GET changed nothing
        done = httpx.post(
            leave,
            content=b"List-Unsubscribe=One-Click",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert done.status_code == 200 and "is unsubscribed" in done.text
    config.write_text(config.read_text().replace("day1.xml", "day2.xml"))
    second = run_cli(capsys, "run", "--config", config, "--now", DAY2)
    assert second.code == 0 and "1 opted out, skipped" in second.out, second.out
    assert [r.rcpt_tos for r in smtp_server.received[2:]] == [["bob@example.org"]]
    status = run_cli(capsys, "status", "--config", config)
    assert "Ada <ada@example.org>" in status.out and "unsubscribed since 20" in status.out
    listed = run_cli(capsys, "subscribers", "--config", config, "--json")
    assert '"state": "unsubscribed"' in listed.out and '"state": "active"' in listed.out
    undo = run_cli(capsys, "subscribers", "resubscribe", "ada@example.org", "--config", config)
    assert undo.code == 0
    assert "Ada <ada@example.org>: active" in run_cli(capsys, "subscribers", "--config", config).out


def test_bad_links_get_the_same_plain_404_and_pages_carry_security_headers(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """An altered, foreign-purpose or made-up token and an unknown path all get the same
    404 page (nothing says whether an address is subscribed); every answer has a strict
    CSP without script, nosniff and no-referrer; oversized bodies are refused (413) and
    a POST without the one-click field changes nothing (400)."""
    config = web_config(tmp_path, smtp_server.port)
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    leave, _, view = _links(smtp_server, "ada@example.org")
    base = base_url(config)
    with endpoint(config):
        token = leave.rsplit("/", 1)[1]
        subject, expires, tag = token.split(".")
        altered = f"{base}/u/{subject}.{expires}.{tag[::-1]}"
        wrong_purpose = f"{base}/u/{view.rsplit('/', 1)[1]}"
        bodies = set()
        for url in (altered, wrong_purpose, f"{base}/u/nothing", f"{base}/admin", f"{base}/d/x"):
            answer = httpx.get(url)
            assert answer.status_code == 404
            bodies.add(answer.text)
        assert len(bodies) == 1 and "ada@example.org" not in bodies.pop()
        for answer in (httpx.get(leave), httpx.get(view), httpx.get(base + "/healthz")):
            policy = answer.headers["content-security-policy"]
            assert "default-src 'none'" in policy and "script" not in policy
            assert answer.headers["x-content-type-options"] == "nosniff"
            assert answer.headers["referrer-policy"] == "no-referrer"
        huge = httpx.post(leave, content=b"x" * 10_000)
        assert huge.status_code == 413
        empty = httpx.post(leave, content=b"nothing=here")
        assert empty.status_code == 400
    listed = run_cli(capsys, "subscribers", "--config", config)
    assert "Ada <ada@example.org>: active" in listed.out


def test_view_in_browser_shows_the_digest_exactly_as_sent_and_healthz_answers(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """/d/TOKEN serves the digest as sent, every paper in the same order, without a link to
    itself (its link lasts [web] keep_days from the send, so the run is today); /healthz
    answers the store's health as JSON, and `status --healthy` asks the endpoint (unhealthy
    when it is down)."""
    from datetime import UTC, datetime

    config = web_config(tmp_path, smtp_server.port)
    today = datetime.now(UTC).isoformat()
    assert run_cli(capsys, "run", "--config", config, "--now", today).code == 0
    _, _, view = _links(smtp_server, "bob@example.org")
    message = next(r for r in smtp_server.received if r.rcpt_tos == ["bob@example.org"]).message
    html = message.get_body(("html",))
    assert html is not None
    with endpoint(config):
        shown = httpx.get(view)
        sent = str(html.get_content())
        assert shown.status_code == 200 and paper_links(shown.text) == paper_links(sent)
        assert "View in browser" in sent and "/d/" in sent
        assert "View in browser" not in shown.text and "/d/" not in shown.text
        assert shown.text.count("/u/") == sent.count("/u/") == 1
        health = httpx.get(base_url(config) + "/healthz")
        checked = run_cli(capsys, "status", "--config", config, "--healthy")
    assert health.headers["content-type"] == "application/json"
    assert health.status_code == 200 and health.json()["ok"] is True
    assert checked.code == 0 and health.json()["why"] in checked.out  # asked the endpoint
    down = run_cli(capsys, "status", "--config", config, "--healthy")
    assert down.code == 1 and "does not answer" in down.out


def _accepts(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:`port`."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


def test_sigterm_to_serve_with_the_endpoint_up_finishes_the_request_in_flight(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A one-click POST whose body is still arriving when `serve` gets SIGTERM is answered
    (200, the opt-out recorded) and serve exits 0."""
    config = web_config(
        tmp_path,
        smtp_server.port,
        extra='\n[schedule]\ntime = "03:00"\ntimezone = "UTC"\n',
    )
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    leave, _, _ = _links(smtp_server, "ada@example.org")
    path = leave.split("127.0.0.1:", 1)[1].split("/", 1)[1]
    port = int(leave.split("127.0.0.1:", 1)[1].split("/", 1)[0])
    body = b"List-Unsubscribe=One-Click"
    with endpoint(config, command="serve") as proc:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
            conn.sendall(
                f"POST /{path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(body)}\r\n"
                "Expect: 100-continue\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n\r\n".encode()
            )
            # "100 Continue" comes when the endpoint starts reading the body: in flight
            assert conn.recv(64).startswith(b"HTTP/1.1 100"), "no 100 Continue"
            proc.send_signal(signal.SIGTERM)
            assert wait_until(lambda: not _accepts(port), timeout=30)  # shutting down now
            conn.sendall(body)
            answer = conn.recv(65536).decode("utf-8", "replace")
        _, err = proc.communicate(timeout=30)
    assert answer.startswith("HTTP/1.1 200"), answer[:200]
    assert proc.returncode == 0, err
    listed = run_cli(capsys, "subscribers", "--config", config)
    assert "Ada <ada@example.org>: unsubscribed" in listed.out
