"""Peak memory of planning a run: every subscriber's digest built through the run's own path
(plan_chunk on chunks of 1024 subscribers: candidate windows, one ranking batch, digests),
nothing sent.

Usage: python bench/plan_memory.py [--subscribers 100000] [--papers 1000] [--semantic]

The store is a fresh SQLite file holding the papers (ingested as a run would); the config
has the subscribers (2-5 Zipf-drawn keywords each, as in bench/deliver.py). Prints the RSS
before planning, the peak RSS (ru_maxrss) after it, the digests planned and the time.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from deliver import write_config, write_feed
from speed import keyword_pool, make_papers

from digest.app import embedder
from digest.config.load import load_config
from digest.run.group import chunk_size
from digest.run.plan import plan_chunk, prepare, rank_chunk
from digest.store import Store


def rss_mib() -> float:
    """Peak RSS so far."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def current_mib() -> float:
    """RSS now."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--semantic", action="store_true", help="the hybrid ranker")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        papers = make_papers(args.papers, rng)
        write_feed(papers, folder / "feed.xml")
        path = write_config(folder, 25, args.subscribers, keyword_pool(papers, rng), 8, rng)
        text = path.read_text().replace(
            "[[sources]]",
            "[ranking]\nsemantic = %s\n\n[[sources]]" % ("true" if args.semantic else "false"),
            1,
        )
        path.write_text(text)
        config = load_config(path)
        store = Store(config.store_url)
        store.ingest(papers, source="bench", now=now)
        model = embedder(config)
        before, peak_before = current_mib(), rss_mib()
        started = time.perf_counter()
        planned = 0
        ranker = prepare(config, store, run_at=now, cursor=None, embedder=model)
        size = chunk_size(len(config.subscribers), shared=False)
        for start in range(0, len(config.subscribers), size):
            chunk = config.subscribers[start : start + size]
            digests = plan_chunk(
                rank_chunk(config, store, chunk, ranker=ranker, run_at=now, cursor=None),
                day=now.date(),
            )
            planned += sum(1 for _, digest in digests if digest is not None)
        done = time.perf_counter()
        store.close()
    print(
        f"{args.subscribers} subscribers, {args.papers} papers, "
        f"{'hybrid' if args.semantic else 'lexical'}: {planned} digests planned; "
        f"{done - started:.1f} s"
    )
    print(
        f"peak RSS {rss_mib():.0f} MiB; before planning {before:.0f} MiB now, "
        f"{peak_before:.0f} MiB peak (loading the config)"
    )


if __name__ == "__main__":
    main()
