"""A config with [web] and a `digest web` (or `serve`) process answering subscriber links on
a free loopback port, for the web tests."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx

from tests.cli_helpers import wait_until
from tests.conftest import LISTINGS, ROOT, write_config

SECRET = "a-test-secret-that-signs-links"
PEOPLE = [
    {"name": "Ada", "email": "ada@example.org", "keywords": ["network"]},
    {"name": "Bob", "email": "bob@example.org", "keywords": ["learning"]},
]


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def web_config(folder: Path, smtp_port: int, *, listing: str = "day1.xml", extra: str = "") -> Path:
    """A config whose digests carry links to a [web] endpoint on a free port."""
    port = free_port()
    web = (
        f'\n[web]\nlisten = "127.0.0.1:{port}"\nallow_http = true\n'
        f'base_url = "http://127.0.0.1:{port}"\n'
        'secret_env = "DIGEST_TEST_SECRET"\n'
    )
    return write_config(
        folder,
        sources=[("day", str(LISTINGS / listing))],
        subscribers=PEOPLE,
        smtp_port=smtp_port,
        extra=extra + web + "\n[ranking]\nsemantic = false\n",
    )


def base_url(config: Path) -> str:
    """The config's [web] base_url."""
    for line in config.read_text().splitlines():
        if line.startswith("base_url = "):
            return line.split('"')[1]
    raise AssertionError("no base_url")


@contextmanager
def endpoint(
    config: Path,
    command: str = "web",
    *,
    options: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
) -> Iterator[subprocess.Popen[str]]:
    """`digest [OPTIONS] web` (or `serve`) running on the config (with `env` added to the
    environment), ready to answer; stopped after (unless the test stopped it and read its
    output)."""
    env = {**os.environ, "DIGEST_TEST_SECRET": SECRET, "PYTHONPATH": str(ROOT), **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-m", "digest", *options, command, "--config", str(config)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
    )
    url = base_url(config) + "/healthz"

    def up() -> bool:
        try:
            answer = httpx.get(url, timeout=1)
        except httpx.HTTPError:
            return False
        return answer.status_code != 502  # a proxy in front answers before the endpoint

    try:
        assert wait_until(lambda: up() or proc.poll() is not None, timeout=30)
        assert proc.poll() is None, proc.communicate()[1]
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()
        if proc.stderr is not None and not proc.stderr.closed:
            proc.communicate(timeout=30)
