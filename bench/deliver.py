"""Delivery throughput: N digests (ranked from P papers) sent to a local aiosmtpd sink in
another process, next to the raw aiosmtplib ceiling measured in the same run.

Usage: python bench/deliver.py [--subscribers 10000] [--papers 1000] [--connections 8]
       [--repeat 3] [--lexical] [--delay 0.02] [--table]

--table prints, for 1, 4, 8 and 16 connections against a sink that answers each command after
--delay seconds (a relay across a network), the pipeline and the raw client side by side with
the CPU per digest of each.

The raw ceiling sends pre-built messages of the same sizes as the digests over the same number
of connections with plain aiosmtplib (`sendmail`, as the pipeline's SMTP pool does). The
pipeline figure is a real run: store, ranking, rendering, composing, SMTP pool, and the
ledger commits of the accepted messages.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import aiosmtplib

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from speed import keyword_pool, make_papers

from digest.app import Runner
from digest.config.load import load_config
from digest.mail.deliver import SmtpOutbox
from digest.ranking.stopwords import only_stopwords
from digest.ranking.text import words

HERE = Path(__file__).resolve().parent


def write_feed(papers: list, path: Path) -> None:  # type: ignore[type-arg]
    from xml.etree import ElementTree as ET

    rss = ET.Element("rss", version="2.0")
    channel = ET.SubElement(rss, "channel")
    ET.SubElement(channel, "title").text = "bench"
    for p in papers:
        item = ET.SubElement(channel, "item")
        ET.SubElement(item, "title").text = p.title
        ET.SubElement(item, "link").text = f"https://arxiv.org/abs/{p.id.removeprefix('arxiv:')}"
        ET.SubElement(item, "description").text = p.abstract
        ET.SubElement(item, "guid").text = f"oai:arXiv.org:{p.id.removeprefix('arxiv:')}v1"
    path.write_bytes(ET.tostring(rss, encoding="utf-8"))


def write_config(
    folder: Path, port: int, subs: int, pool: list[str], connections: int, rng: random.Random
) -> Path:
    weights = [1 / (r + 1) for r in range(len(pool))]
    lines = [
        '[store]\npath = "state.sqlite3"\n',
        '[email]\nsender = "Paper Digest <digest@example.org>"\n',
        f'[smtp]\nhost = "127.0.0.1"\nport = {port}\nsecurity = "none"\nconnections = {connections}\n',
        '[[sources]]\nname = "bench"\nurl = "feed.xml"\n',
    ]
    for i in range(subs):
        kws = list(dict.fromkeys(rng.choices(pool, weights=weights, k=rng.randint(2, 5))))
        quoted = ", ".join(json.dumps(k) for k in kws)
        lines.append(
            f'[[subscribers]]\nname = "Reader {i}"\nemail = "r{i}@example.org"\nkeywords = [{quoted}]\nmax_papers = 10\n'
        )
    path = folder / "bench.toml"
    path.write_text("\n".join(lines))
    return path


async def raw_ceiling(port: int, messages: list[bytes], connections: int) -> float:
    """Messages per second from plain aiosmtplib `sendmail` over `connections` connections."""
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for m in messages:
        queue.put_nowait(m)

    async def worker() -> None:
        smtp = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False)
        await smtp.connect()
        while not queue.empty():
            data = queue.get_nowait()
            await smtp.sendmail("digest@example.org", ["r@example.org"], data)
        await smtp.quit()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return len(messages) / (time.perf_counter() - started)


def measure(args: argparse.Namespace, connections: int, delay: float) -> dict[str, float]:
    """One pipeline run and one raw run against a fresh sink, in this process."""
    rng = random.Random(args.seed)
    sink = subprocess.Popen(
        [sys.executable, str(HERE / "smtp_sink.py"), "--delay", str(delay)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert sink.stdout is not None and sink.stdin is not None
    port = int(sink.stdout.readline())
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        papers = make_papers(args.papers, rng)
        write_feed(papers, folder / "feed.xml")
        # a config may not hold keywords made only of stopwords ("from"): drop them
        pool = [k for k in keyword_pool(papers, rng) if not only_stopwords(words(k.lower()))]
        path = write_config(folder, port, args.subscribers, pool, connections, rng)
        if args.lexical:
            path.write_text(
                path.read_text().replace(
                    "[[sources]]", "[ranking]\nsemantic = false\n\n[[sources]]", 1
                )
            )
        config = load_config(path)
        runner = Runner(config)  # the library entry point the CLI uses too
        started, cpu = time.perf_counter(), time.process_time()
        report = asyncio.run(runner.run(now=datetime.now(UTC)))
        total, run_cpu = time.perf_counter() - started, time.process_time() - cpu
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        outbox = runner.outbox
        assert isinstance(outbox, SmtpOutbox)
        sent = sum(1 for d in report.deliveries if d.status == "sent")
        failed = sum(1 for d in report.deliveries if d.status == "failed")
        mean = outbox.bytes_sent // max(1, outbox.sent)
        # raw ceiling: as many pre-built messages of the mean size
        line = b"x" * 76 + b"\r\n"
        prebuilt = [b"Subject: raw\r\n\r\n" + line * (mean // len(line))] * outbox.sent
        cpu = time.process_time()
        raw = asyncio.run(raw_ceiling(port, prebuilt, connections))
        raw_cpu = time.process_time() - cpu
    sink.stdin.close()
    accepted = int(sink.stdout.readline())
    sink.wait()
    piped = sent / report.sending_seconds
    return {
        "sent": sent,
        "failed": failed,
        "mean": mean,
        "accepted": accepted,
        "sending": report.sending_seconds,
        "piped": piped,
        "total": total,
        "raw": raw,
        "ratio": piped / raw,
        "cpu": run_cpu / max(1, sent) * 1000,
        "raw_cpu": raw_cpu / max(1, outbox.sent) * 1000,
        "peak": peak,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--delay", type=float, default=0.0, help="sink: seconds per command")
    parser.add_argument("--repeat", type=int, default=1, help="runs; the median ratio is shown")
    parser.add_argument("--lexical", action="store_true", help="no semantic ranking")
    parser.add_argument(
        "--table", action="store_true", help="1, 4, 8 and 16 connections (with --delay)"
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.table:
        print(
            f"{args.subscribers} digests per row, sink delay {args.delay * 1000:.0f} ms "
            "per command; CPU per digest covers the whole run (fetch, ingest, ranking too)"
        )
        print("connections | pipeline digests/s | raw msg/s | ratio | CPU ms/digest pipeline | raw")
        for connections in (1, 4, 8, 16):
            r = measure(args, connections, args.delay)
            print(
                f"{connections:>11} | {r['piped']:>18.1f} | {r['raw']:>9.1f} | "
                f"{r['ratio']:>5.2f} | {r['cpu']:>22.2f} | {r['raw_cpu']:.2f}",
                flush=True,
            )
        return
    if args.one:  # one run in this process, its figures as JSON for the parent
        print(json.dumps(measure(args, args.connections, args.delay)))
        return
    # each run in a fresh process, so its peak RSS is its own, not the high-water mark of
    # the runs before it
    child = [sys.executable, __file__, *sys.argv[1:], "--one"]
    runs = [
        json.loads(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
        for _ in range(args.repeat)
    ]
    for r in runs:
        print(
            f"{args.papers} papers, {args.subscribers} subscribers, {args.connections} "
            f"connections; {r['sent']:.0f} digests sent ({r['failed']:.0f} failed), mean size "
            f"{r['mean']:.0f} bytes; sink accepted {r['accepted']:.0f}"
        )
        print(
            f"pipeline: sending phase {r['sending']:.1f} s -> {r['piped']:.0f} digests/s "
            f"(whole run incl. fetch+rank {r['total']:.1f} s -> {r['sent'] / r['total']:.0f}/s)"
        )
        print(f"raw aiosmtplib ceiling, pre-built messages: {r['raw']:.0f} msg/s")
        print(
            f"CPU per digest: pipeline {r['cpu']:.2f} ms (whole run), raw {r['raw_cpu']:.2f} ms; "
            f"peak RSS of the run (its own process) {r['peak']:.0f} MiB"
        )
        print(f"ratio pipeline/raw: {r['ratio']:.2f}", flush=True)
    ratios = sorted(r["ratio"] for r in runs)
    print(f"median ratio of {len(runs)}: {ratios[len(ratios) // 2]:.2f}")


if __name__ == "__main__":
    main()
