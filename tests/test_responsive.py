"""A run's CPU work stays off the event loop: while a run ranks and renders thousands of
digests, the subscriber endpoint in the same process answers every /healthz probe (one every
50 ms) within 250 ms."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from digest import app
from digest.config.load import load_config
from tests.conftest import LISTINGS, write_config
from tests.web_helpers import SECRET, free_port

pytestmark = pytest.mark.slow  # a run of thousands of digests

NOW = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)
WORDS = ["network", "learning", "graph", "language", "model", "vision", "robot", "data"]


async def _probe(url: str, done: asyncio.Event, latencies: list[float]) -> None:
    """GET `url` every 50 ms until `done`, noting how long each answer took."""
    async with httpx.AsyncClient(timeout=5) as client:
        while not done.is_set():
            started = time.perf_counter()
            answer = await client.get(url)
            latencies.append(time.perf_counter() - started)
            assert answer.status_code == 200
            await asyncio.sleep(0.05)


def test_health_probes_answer_within_250_ms_during_a_multi_second_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Probes sent while a 3,000-subscriber run plans and writes its digests answer within
    250 ms (at most one within a second), and the run takes seconds (so the probes did
    overlap planning)."""
    port = free_port()
    people = [
        {
            "name": f"R{i}",
            "email": f"r{i}@example.org",
            "keywords": [WORDS[i % 8], WORDS[(i * 3 + 1) % 8]],
        }
        for i in range(3000)
    ]
    web = (
        f'\n[web]\nlisten = "127.0.0.1:{port}"\nbase_url = "https://digest.example.org"\n'
        'secret_env = "DIGEST_TEST_SECRET"\n\n[ranking]\nsemantic = false\n'
    )
    path = write_config(
        tmp_path, sources=[("day1", str(LISTINGS / "day1.xml"))], subscribers=people, extra=web
    )
    monkeypatch.setenv("DIGEST_TEST_SECRET", SECRET)
    config = load_config(path)
    latencies: list[float] = []

    async def scenario() -> float:
        stop, done = asyncio.Event(), asyncio.Event()
        server = asyncio.create_task(app.web(config, stop))
        url = f"http://127.0.0.1:{port}/healthz"
        async with httpx.AsyncClient() as client:
            for _ in range(200):  # up within 10 s
                try:
                    if (await client.get(url)).status_code == 200:
                        break
                except httpx.TransportError:
                    await asyncio.sleep(0.05)
        # a first small run imports and compiles what any run needs once per process
        await app.run(config.narrowed([0]), now=NOW, dry_run=True, outbox_dir=tmp_path / "warm")
        probes = asyncio.create_task(_probe(url, done, latencies))
        started = time.perf_counter()
        report = await app.run(config, now=NOW, dry_run=True, outbox_dir=tmp_path / "out")
        took = time.perf_counter() - started
        done.set()
        await probes
        stop.set()
        await server
        assert sum(d.status == "written" for d in report.deliveries) > 2000
        return took

    took = asyncio.run(scenario())
    assert took > 2.0, took
    assert len(latencies) >= took / 0.3, (len(latencies), took)
    print("slowest probes", [round(x, 3) for x in sorted(latencies)[-3:]])
    # one hiccup over 250 ms is tolerated (a fresh CI clone once saw 0.30 s among ~100
    # probes, never reproduced locally: a collector pause or a cold path), a blocked loop is not
    assert max(latencies) < 1.0, sorted(latencies)[-5:]
    assert sum(x >= 0.25 for x in latencies) <= 1, sorted(latencies)[-5:]
