"""The subscriber endpoint under the clients the internet sends, over loopback against a real
`digest web`: one-click as multipart, idle and slow connections, stalled and abandoned
bodies, SIGTERM mid-body, a reverse proxy at a path prefix, http refused, JSON logs, a taken
port, and a store that disappears under it (SQLite) or a database dropped (PostgreSQL)."""

from __future__ import annotations

import json
import re
import select
import shutil
import signal
import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

from digest.web.app import BODY_SECONDS
from digest.web.server import HEADER_SECONDS, MAX_REQUESTS
from tests.cli_helpers import run_cli, wait_until
from tests.conftest import PG_ADMIN
from tests.servers import SmtpServer
from tests.web_helpers import SECRET, endpoint, web_config

DAY1 = "2025-09-15T07:30:00+00:00"
ONE_CLICK = b"List-Unsubscribe=One-Click"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_TEST_SECRET", SECRET)


def _leave(smtp: SmtpServer, who: str) -> str:
    """The one-click URL of the newest digest to `who`."""
    message = [r for r in smtp.received if r.rcpt_tos == [who]][-1].message
    found = re.search(r"<([^>]+)>", str(message["List-Unsubscribe"]))
    assert found is not None
    return found.group(1)


def _ready(
    tmp_path: Path, smtp: SmtpServer, capsys: pytest.CaptureFixture[str], extra: str = ""
) -> tuple[Path, str]:
    """A config with [web], a real run's digests sent, and Ada's one-click URL."""
    config = web_config(tmp_path, smtp.port, extra=extra)
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    return config, _leave(smtp, "ada@example.org")


def _state(capsys: pytest.CaptureFixture[str], config: Path, who: str = "Ada") -> str:
    """`digest subscribers`' line for `who`."""
    listed = run_cli(capsys, "subscribers", "--config", config).out
    return next(line for line in listed.splitlines() if line.startswith(who))


def _listen(config: Path) -> tuple[str, int]:
    """The [web] listen address of a test config."""
    found = re.search(r'listen = "([\d.]+):(\d+)"', config.read_text())
    assert found is not None
    return found.group(1), int(found.group(2))


def _stalled_post(address: tuple[str, int], path: str) -> socket.socket:
    """A one-click POST whose headers are complete and whose body stops after 5 bytes."""
    raw = socket.create_connection(address)
    raw.sendall(
        f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded"
        f"\r\nContent-Length: {len(ONE_CLICK)}\r\n\r\n".encode()
        + ONE_CLICK[:5]
    )
    return raw


def _secure(answer: httpx.Response) -> None:
    policy = answer.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "script" not in policy
    assert answer.headers["x-content-type-options"] == "nosniff"


def test_one_click_as_multipart_or_urlencoded_unsubscribes_and_anything_else_is_one_400(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """RFC 8058's POST unsubscribes sent as multipart/form-data and as urlencoded; a file
    part, a broken multipart, JSON or a wrong field all get the same 400 page with the
    security headers, and change nothing."""
    config, leave = _ready(tmp_path, smtp_server, capsys)
    multipart = (
        b'--B0undary\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\n'
        b"One-Click\r\n--B0undary--\r\n"
    )
    with endpoint(config):
        bad = [
            httpx.post(
                leave,
                content=multipart.replace(b'name="List', b'filename="a.txt"; name="List'),
                headers={"Content-Type": "multipart/form-data; boundary=B0undary"},
            ),
            httpx.post(leave, content=multipart, headers={"Content-Type": "multipart/form-data"}),
            httpx.post(leave, json={"List-Unsubscribe": "One-Click"}),
            httpx.post(leave, content=b"List-Unsubscribe=Two-Clicks", headers=FORM),
            httpx.post(leave, content=b"&".join([b"a=1"] * 20), headers=FORM),
        ]
        assert [b.status_code for b in bad] == [400] * 5
        assert len({b.text for b in bad}) == 1 and "nothing was changed" in bad[0].text
        for answer in bad:
            _secure(answer)
        assert "active" in _state(capsys, config)
        done = httpx.post(
            leave,
            content=multipart,
            headers={"Content-Type": "multipart/form-data; boundary=B0undary"},
        )
        assert done.status_code == 200 and "is unsubscribed" in done.text
        assert "unsubscribed" in _state(capsys, config)
        assert run_cli(capsys, "subscribers", "resubscribe", "ada@example.org", "--config", config)
        again = httpx.post(leave, content=ONE_CLICK, headers=FORM)
        assert again.status_code == 200 and "unsubscribed" in _state(capsys, config)


@pytest.mark.slow
def test_idle_and_half_sent_connections_neither_deny_service_nor_stay_open(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """200 connections left idle, half of them stopped mid-headers, for longer than a
    keep-alive: /healthz and a one-click POST still answer 200 within 5 s, and the server
    closes each of those connections once the header timeout has passed."""
    config, leave = _ready(tmp_path, smtp_server, capsys)
    address = _listen(config)
    with endpoint(config):
        opened = time.monotonic()
        idle = [socket.create_connection(address) for _ in range(200)]
        for raw in idle[::2]:
            raw.sendall(b"POST /u/x HTTP/1.1\r\nHost: x\r\nContent-")
        time.sleep(6)
        health = httpx.get(f"http://{address[0]}:{address[1]}/healthz", timeout=5)
        done = httpx.post(leave, content=ONE_CLICK, headers=FORM, timeout=5)
        assert health.status_code == 200 and done.status_code == 200
        open_ = set(idle)
        while open_ and time.monotonic() - opened < HEADER_SECONDS + 10:
            readable, _, _ = select.select(list(open_), [], [], 1)
            for raw in readable:
                if raw.recv(4096) == b"":
                    open_.discard(raw)
        closed_after = time.monotonic() - opened
        for raw in idle:
            raw.close()
    assert not open_, f"{len(open_)} idle connections still open"
    assert closed_after >= HEADER_SECONDS - 1


@pytest.mark.slow
def test_stalled_bodies_slow_nobody_down_and_the_limit_counts_requests_being_served(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Ten POSTs stalled mid-body leave a one-click POST fast; with every request slot held
    by a stalled body the next request gets a 503 with Retry-After and the security
    headers; each stalled body ends in a 408 and the endpoint answers 200 again."""
    config, leave = _ready(tmp_path, smtp_server, capsys)
    address = _listen(config)
    path = urlsplit(leave).path
    health = f"http://{address[0]}:{address[1]}/healthz"
    with endpoint(config):
        stalled = [_stalled_post(address, path) for _ in range(10)]
        started = time.monotonic()
        done = httpx.post(leave, content=ONE_CLICK, headers=FORM, timeout=5)
        assert done.status_code == 200 and time.monotonic() - started < 1.0
        stalled += [_stalled_post(address, path) for _ in range(MAX_REQUESTS - 10)]
        assert wait_until(lambda: httpx.get(health).status_code == 503, timeout=5)
        busy = httpx.get(health)
        assert busy.headers["retry-after"].isdigit()
        _secure(busy)
        for raw in stalled:
            raw.settimeout(BODY_SECONDS + 10)
            assert raw.recv(64).startswith(b"HTTP/1.1 408"), "a stalled body ends in a 408"
            raw.close()
        assert httpx.get(health).status_code == 200
    assert "unsubscribed" in _state(capsys, config)


@pytest.mark.slow
def test_a_client_gone_mid_body_is_one_line_and_sigterm_mid_body_exits_cleanly(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A client that disconnects mid-body leaves one log line and no traceback; SIGTERM
    while another body never finishes ends the process within the graceful timeout,
    exit 0, without a CancelledError or traceback."""
    config, leave = _ready(tmp_path, smtp_server, capsys)
    address = _listen(config)
    path = urlsplit(leave).path
    with endpoint(config) as proc:
        gone = _stalled_post(address, path)
        time.sleep(0.3)
        gone.close()
        hanging = _stalled_post(address, path)
        time.sleep(0.5)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        took = time.monotonic() - started
        hanging.close()
    assert proc.returncode == 0, err
    assert took < 20, took
    assert "Traceback" not in err and "CancelledError" not in err, err
    assert err.count("went away mid-body") == 1, err
    assert "active" in _state(capsys, config)


class _PrefixProxy:
    """A reverse proxy on loopback that serves the backend under `prefix`, stripping it
    from each request's path (as nginx `location /digest/ { proxy_pass http://app/; }`)."""

    def __init__(self, prefix: str, backend: tuple[str, int]) -> None:
        self.prefix = prefix.encode()
        self.backend = backend
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.server.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(client,), daemon=True).start()

    def _handle(self, client: socket.socket) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            piece = client.recv(65536)
            if not piece:
                client.close()
                return
            head += piece
        line, rest = head.split(b"\r\n", 1)
        method, target, version = line.split(b" ")
        if not target.startswith(self.prefix + b"/"):
            client.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        try:
            upstream = socket.create_connection(self.backend)
        except OSError:  # the endpoint is not up yet
            client.sendall(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            client.close()
            return
        # one request per connection keeps the rewriting to the first line
        rest = re.sub(rb"(?im)^connection:[^\r\n]*\r\n", b"", rest)
        upstream.sendall(
            b" ".join([method, target[len(self.prefix) :], version])
            + b"\r\nConnection: close\r\n"
            + rest
        )
        threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
        self._pipe(upstream, client)

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while piece := source.recv(65536):
                target.sendall(piece)
        except OSError:
            pass
        finally:
            for end in (source, target):
                end.close()

    def close(self) -> None:
        self.server.close()


@contextmanager
def _proxied(config: Path) -> Iterator[_PrefixProxy]:
    """The config's base_url moved behind a prefix-stripping proxy at /digest."""
    proxy = _PrefixProxy("/digest", _listen(config))
    text = re.sub(
        r'base_url = "[^"]+"',
        f'base_url = "http://127.0.0.1:{proxy.port}/digest"',
        config.read_text(),
    )
    config.write_text(text)
    try:
        yield proxy
    finally:
        proxy.close()


def test_behind_a_reverse_proxy_at_a_path_prefix_every_link_form_and_style_resolves(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """With base_url under /digest and a proxy that strips it, the digest's links, the
    pages' form actions and stylesheet all resolve under the prefix and work through the
    proxy; a proxy that passes the prefix on is answered too."""
    config = web_config(tmp_path, smtp_server.port)
    with _proxied(config) as proxy:
        assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
        leave = _leave(smtp_server, "ada@example.org")
        assert leave.startswith(f"http://127.0.0.1:{proxy.port}/digest/u/")
        with endpoint(config):
            page = httpx.get(leave)
            assert page.status_code == 200
            actions = re.findall(r'<form method="post" action="([^"]+)"', page.text)
            style = re.search(r'<link rel="stylesheet" href="([^"]+)"', page.text)
            assert style is not None and style.group(1) == "/digest/static/web.css"
            assert actions and all(a == urlsplit(leave).path for a in actions)
            css = httpx.get(urljoin(leave, style.group(1)))
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
            done = httpx.post(urljoin(leave, actions[-1]), data={"action": "unsubscribe"})
            assert done.status_code == 200 and "is unsubscribed" in done.text
            again = re.findall(r'<form method="post" action="([^"]+)"', done.text)
            assert again and all(a.startswith("/digest/u/") for a in again)
            host, port = _listen(config)
            direct = httpx.get(f"http://{host}:{port}{urlsplit(leave).path}")
            assert direct.status_code == 200 and "/digest/static/web.css" in direct.text
    assert "unsubscribed" in _state(capsys, config)


def test_an_http_base_url_is_refused_unless_allowed_and_then_carries_no_one_click(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`check` and `web` refuse an http:// base_url in one line naming web.base_url (exit
    2); allow_http accepts it and its digests carry List-Unsubscribe without
    List-Unsubscribe-Post, while an https one carries both."""
    config = web_config(tmp_path, 25)
    text = config.read_text()
    config.write_text(text.replace("allow_http = true\n", ""))
    for command in ("check", "web"):
        refused = run_cli(capsys, command, "--config", config)
        assert refused.code == 2, refused
        lines = refused.err.strip().splitlines()
        assert len(lines) == 1 and "web.base_url" in lines[0] and "https" in lines[0], lines
    config.write_text(text)
    assert run_cli(capsys, "check", "--config", config).code == 0
    for base, post in (("http://127.0.0.1:9", None), ("https://digest.example.org", True)):
        config.write_text(re.sub(r'base_url = "[^"]+"', f'base_url = "{base}"', text))
        out = tmp_path / base.replace(":", "_").replace("/", "_")
        sent = run_cli(
            capsys, "run", "--config", config, "--now", DAY1, "--dry-run", "--outbox", out
        )
        assert sent.code == 0, sent
        eml = message_from_bytes(next(out.glob("*.eml")).read_bytes(), policy=policy.default)
        assert str(eml["List-Unsubscribe"]).strip().startswith(f"<{base}/u/")
        assert eml["List-Unsubscribe-Post"] == ("List-Unsubscribe=One-Click" if post else None)


def test_a_taken_port_is_one_line_naming_web_listen_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`digest web` on an address already in use exits 2 with one line naming web.listen
    and the address, and never says it answers there."""
    config = web_config(tmp_path, 25)
    host, port = _listen(config)
    with socket.create_server((host, port)):
        taken = run_cli(capsys, "web", "--config", config)
    lines = taken.err.strip().splitlines()
    assert taken.code == 2 and len(lines) == 1, taken
    assert "web.listen" in lines[0] and f"{host}:{port}" in lines[0]
    assert "answered on" not in taken.err + taken.out


@pytest.mark.slow
def test_json_logs_make_every_stderr_line_json_server_and_access_lines_included(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """With --log-format json every line `digest web` writes on stderr is one JSON object:
    its own lines, the server's, and one access line per request (route, never the
    token)."""
    config, leave = _ready(tmp_path, smtp_server, capsys)
    address = _listen(config)
    with endpoint(config, options=("--log-format", "json")) as proc:
        httpx.get(leave)
        httpx.get(f"http://{address[0]}:{address[1]}/nowhere")
        gone = _stalled_post(address, urlsplit(leave).path)
        time.sleep(0.3)
        gone.close()
        time.sleep(0.3)
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    entries = [json.loads(line) for line in err.splitlines() if line.strip()]
    loggers = {e["logger"] for e in entries}
    assert {"digest.web", "digest.web.server", "digest.web.access"} <= loggers, loggers
    access = [e["message"] for e in entries if e["logger"] == "digest.web.access"]
    assert any(m.startswith("GET /u/… 200") for m in access), access
    assert any(m.startswith("GET /nowhere 404") for m in access), access
    assert leave.rsplit("/", 1)[1] not in err


def test_a_store_deleted_under_the_endpoint_gets_503_until_it_is_back(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Delete the SQLite store (and -wal/-shm) under a running endpoint: one-click answers
    503 "try again later" with Retry-After and claims nothing, /healthz is 503, and a
    run told not to create a store stops with one clear line; with the file restored the
    same click unsubscribes, durably where runs read it."""
    import asyncio

    from digest import app
    from digest.config.load import load_config
    from digest.errors import StoreError

    config, leave = _ready(tmp_path, smtp_server, capsys)
    store = tmp_path / "state" / "digest.sqlite3"
    backup = tmp_path / "backup.sqlite3"
    with endpoint(config):
        assert httpx.get(leave).status_code == 200  # the endpoint holds the store open
        with sqlite3.connect(store) as src, sqlite3.connect(backup) as dst:
            src.backup(dst)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        refused = httpx.post(leave, content=ONE_CLICK, headers=FORM)
        assert refused.status_code == 503 and "Try again later" in refused.text
        assert refused.headers["retry-after"].isdigit() and "is unsubscribed" not in refused.text
        _secure(refused)
        assert httpx.get(leave).status_code == 503
        assert not store.exists(), "the endpoint created a new, empty store"
        health = httpx.get(leave.split("/u/")[0] + "/healthz")
        assert health.status_code == 503 and health.json()["ok"] is False
        runner = app.Runner(load_config(config))
        with pytest.raises(StoreError, match="gone"):
            asyncio.run(runner.run(now=datetime.fromisoformat(DAY1), create=False))
        assert not store.exists()
        shutil.copyfile(backup, store)
        done = httpx.post(leave, content=ONE_CLICK, headers=FORM)
        assert done.status_code == 200 and "is unsubscribed" in done.text
    assert "unsubscribed" in _state(capsys, config)


@pytest.mark.slow
@pytest.mark.postgres
def test_a_dropped_postgresql_database_gets_503_and_the_endpoint_recovers(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str], pg_url: str
) -> None:
    """With the store's database dropped under a running endpoint, one-click answers 503
    and the process stays up; once the database is back, the same click unsubscribes."""
    import psycopg

    from digest.store import Store

    extra = f'\n[store]\nurl = "{pg_url}"\n'
    config = web_config(tmp_path, smtp_server.port)
    config.write_text(config.read_text().replace('[store]\npath = "state/digest.sqlite3"\n', extra))
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    leave = _leave(smtp_server, "ada@example.org")
    name = pg_url.rsplit("/", 1)[1]
    admin_url = PG_ADMIN.replace("postgresql+psycopg://", "postgresql://")
    with endpoint(config) as proc, psycopg.connect(admin_url, autocommit=True) as admin:
        assert httpx.get(leave).status_code == 200
        admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        for _ in range(2):
            refused = httpx.post(leave, content=ONE_CLICK, headers=FORM, timeout=30)
            assert refused.status_code == 503 and "Try again later" in refused.text
        assert proc.poll() is None
        admin.execute(f'CREATE DATABASE "{name}"')
        Store(pg_url).close()  # the database restored: its schema, empty
        assert wait_until(
            lambda: httpx.post(leave, content=ONE_CLICK, headers=FORM).status_code == 200, 10
        )
    assert "unsubscribed" in _state(capsys, config)


@pytest.mark.slow
def test_serve_never_starts_an_empty_store_where_the_one_it_saw_disappeared(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`digest serve` on an existing store that is deleted before its next send: that run
    stops with one line saying the file is gone, sends nothing, creates no store, and the
    service stays up until SIGTERM (exit 0)."""
    config, _ = _ready(tmp_path, smtp_server, capsys)
    sent = len(smtp_server.received)
    at = (datetime.now(UTC) + timedelta(seconds=4)).strftime("%H:%M:%S")
    days = '["mon", "tue", "wed", "thu", "fri", "sat", "sun"]'
    with config.open("a") as out:
        out.write(f'\n[schedule]\ntime = "{at}"\ntimezone = "UTC"\ndays = {days}\n')
    store = tmp_path / "state" / "digest.sqlite3"
    with endpoint(config, "serve", options=("--log-format", "json")) as proc:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{store}{suffix}").unlink(missing_ok=True)
        assert proc.stderr is not None
        lines: list[str] = []
        while not any("run failed" in line for line in lines) and len(lines) < 200:
            lines.append(proc.stderr.readline())
        proc.send_signal(signal.SIGTERM)
        _, rest = proc.communicate(timeout=30)
    failed = [json.loads(line)["message"] for line in lines if "run failed" in line]
    assert len(failed) == 1 and "the file is gone" in failed[0], lines
    assert proc.returncode == 0 and "Traceback" not in rest
    assert not store.exists() and len(smtp_server.received) == sent
