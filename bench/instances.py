"""Several instances on one PostgreSQL: N `digest run` processes share one run of 10,000
subscribers against an SMTP sink that answers each command after 20 ms (a relay across a
network); digests/s for 1, 2 and 3 instances, the ratio to one, and SQL statements per digest.

Usage: python bench/instances.py [--subscribers 10000] [--papers 1000] [--delay 0.02]
       [--connections 8] [--instances 1 2 3] [--pg postgresql+psycopg://postgres@127.0.0.1/postgres]
       [--failover kill|stop] [--failover-seconds 5]

With --failover kill (or stop), two instances run and one of them is SIGKILLed (or SIGSTOPped
for three times failover_seconds, then continued) once a quarter of the digests are recorded;
the failover time is from the signal until the other instance holds (or has finished) every
chunk the victim held, read from pg_locks and run_chunks; duplicates are accepted - subscribers.

Each configuration gets a fresh database and a fresh sink; the instances start together with
the same config and --now. "sending" is the sink's first to last accepted message; "whole" is
from the start of the processes until the last one exits (fetch, ingest, ranking included).
Statements are counted by each instance (run report field `statements`) and summed.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deliver import write_feed
from speed import keyword_pool, make_papers
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.exc import SQLAlchemyError

from digest.store.schema import deliveries, run_chunks, runs

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def write_config(folder: Path, url: str, port: int, args: argparse.Namespace) -> Path:
    rng = random.Random(args.seed)
    papers = make_papers(args.papers, rng)
    write_feed(papers, folder / "feed.xml")
    pool = keyword_pool(papers, rng)
    weights = [1 / (r + 1) for r in range(len(pool))]
    lines = [
        f'[store]\nurl = "{url}"\nfailover_seconds = {args.failover_seconds}\n',
        '[email]\nsender = "Paper Digest <digest@example.org>"\n',
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
        f"connections = {args.connections}\ntimeout = 60\n",
        "[ranking]\nsemantic = false\n",
        '[[sources]]\nname = "bench"\nurl = "feed.xml"\n',
    ]
    for i in range(args.subscribers):
        kws = list(dict.fromkeys(rng.choices(pool, weights=weights, k=rng.randint(2, 5))))
        lines.append(
            f'[[subscribers]]\nname = "Reader {i}"\nemail = "r{i}@example.org"\n'
            f"keywords = {json.dumps(kws)}\nmax_papers = 10\n"
        )
    path = folder / "bench.toml"
    path.write_text("\n".join(lines))
    return path


def one(n: int, args: argparse.Namespace, admin_url: str) -> dict[str, float]:
    name = f"digest_bench_{os.getpid()}_{n}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}"'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{admin_url.rsplit('/', 1)[0]}/{name}"
    sink = subprocess.Popen(
        [sys.executable, str(HERE / "smtp_sink.py"), "--delay", str(args.delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdin is not None and sink.stdout is not None
    port = int(sink.stdout.readline())
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = write_config(Path(tmp), url, port, args)
            argv = [sys.executable, "-m", "digest", "run", "--config", str(config)]
            argv += ["--now", "2026-11-23T07:30:00+00:00"]
            started = time.time()
            procs = [
                subprocess.Popen(
                    argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
                )
                for _ in range(n)
            ]
            failover = fail_one(procs, url, args) if args.failover else None
            for p in procs:
                _, err = p.communicate()
                if p.returncode not in (0,):
                    print(f"  instance exit {p.returncode}: {err.strip()[-500:]}")
            whole = time.time() - started
        sink.stdin.close()
        accepted = int(sink.stdout.readline())
        first, last = (float(x) for x in sink.stdout.readline().split())
        sink.wait()
        engine = create_engine(url)
        with engine.connect() as conn:
            reports = [json.loads(r) for r in conn.execute(select(runs.c.report)).scalars()]
            recipients = conn.execute(select(deliveries.c.subscriber).distinct()).scalars().all()
        engine.dispose()
    finally:
        if sink.poll() is None:
            sink.kill()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    sent = [sum(1 for d in r["deliveries"] if d["status"] == "sent") for r in reports]
    statements = sum(r.get("statements", 0) for r in reports)
    return {
        "accepted": accepted,
        "recorded": len(recipients),
        "sending": last - first,
        "whole": whole,
        "rate": accepted / max(last - first, 1e-9),
        "statements": statements / max(1, accepted),
        "split": sent,  # type: ignore[dict-item]
        "failover": failover,  # type: ignore[dict-item]
    }


def _held(conn: Any, pid: int) -> set[int]:
    """The chunks (second lock key >= 0) the instance with process id `pid` holds now."""
    rows = conn.execute(
        text(
            "SELECT l.objid::int, a.application_name FROM pg_locks l JOIN pg_stat_activity a "
            "ON a.pid = l.pid WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted"
        )
    ).all()
    return {int(part) for part, who in rows if str(who).endswith(f":{pid}") and part >= 0}


def fail_one(procs: list[subprocess.Popen[str]], url: str, args: argparse.Namespace) -> float:
    """Signal one instance once a quarter of the digests are recorded; seconds until the
    other holds or has finished every chunk the victim held."""
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    count = select(func.count(deliveries.c.subscriber.distinct()))
    victim = procs[0]
    with engine.connect() as conn:
        while True:
            try:
                if conn.execute(count).scalar_one() >= args.subscribers // 4:
                    held = _held(conn, victim.pid)
                    if held:
                        break
            except SQLAlchemyError:  # the schema is not there yet
                pass
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL if args.failover == "kill" else signal.SIGSTOP)
        signalled = time.monotonic()
        others = [p.pid for p in procs if p is not victim]
        while True:
            done = set(conn.execute(select(run_chunks.c.chunk)).scalars())
            taken = set().union(*(_held(conn, pid) for pid in others))
            if held <= done | taken:
                took = time.monotonic() - signalled
                break
            time.sleep(0.01)
    engine.dispose()
    if args.failover == "stop":
        time.sleep(max(0.0, signalled + 3 * args.failover_seconds - time.monotonic()))
        victim.send_signal(signal.SIGCONT)
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.02)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--instances", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--failover", choices=["kill", "stop"])
    parser.add_argument("--failover-seconds", type=float, default=5.0)
    args = parser.parse_args()
    if args.failover:
        args.instances = [2]
    print(
        f"{args.subscribers} subscribers, {args.papers} papers, sink delay "
        f"{args.delay * 1000:.0f} ms per command, {args.connections} connections per instance"
    )
    base = None
    for n in args.instances:
        r = one(n, args, args.pg)
        base = base or r["rate"]
        print(
            f"{n} instance(s): {r['accepted']:.0f} accepted, {r['recorded']:.0f} recorded, "
            f"split {r['split']}; sending {r['sending']:.1f} s -> {r['rate']:.0f} digests/s "
            f"({r['rate'] / base:.2f}x one instance); whole {r['whole']:.1f} s; "
            f"{r['statements']:.1f} SQL statements per digest",
            flush=True,
        )
        if r["failover"] is not None:
            print(
                f"  {args.failover}: failover {r['failover']:.2f} s "
                f"(failover_seconds = {args.failover_seconds:g}); "
                f"duplicates {r['accepted'] - args.subscribers:.0f}"
            )


if __name__ == "__main__":
    main()
