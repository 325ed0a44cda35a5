"""Ranking speed: score N papers for M subscribers with the real batch ranker.

Usage: python bench/speed.py [--papers 1000] [--subscribers 100000] [--seed 7] [--semantic]
       [--vectors FILE.npz] [--liked 10] [--disliked 0]

With --semantic the hybrid ranker runs: the papers and keywords are embedded first with the
[semantic] extra's model (the time and the RSS it adds are printed: that is the one-off cost
of new papers, cached in the store afterwards), then every run scores with the vectors.
With --vectors the embeddings are read from that file (written by the first run that names
it), so a hybrid run needs no model in the process and its peak RSS is the ranking's own.
With --liked N (--disliked N) every subscriber likes (dislikes) N random papers of the index
(issue 28's cost: compare with the same command without them).

Papers are built from the seed listings (real titles and abstracts, recombined so that 1,000
distinct papers exist); subscribers draw 2-6 keywords (words and phrases taken from the
papers' titles and the dev profiles, Zipf-distributed), and some use exclude, categories and
authors. Prints the wall time of indexing + scoring every subscriber (top papers selected),
for a first ("cold") run and the median of the following ("warm") runs in the same process,
the time to build one subscriber's ranked list with reasons, and the peak RSS.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import random
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.models import Paper, Subscriber
from digest.ranking.batch import Batch, build_index
from digest.ranking.index import ScoringParams
from digest.ranking.score import Semantic, score_all

HERE = Path(__file__).resolve().parent
CATEGORIES = ["cs.LG", "cs.CL", "cs.CV", "cs.AI", "stat.ML", "math.OC", "q-bio.NC", "eess.SP"]
NAMES = [
    f"{first} {last}"
    for first in ("Ada", "Alan", "Grace", "Emmy", "Kurt", "Jun", "Priya", "Omar")
    for last in ("Lovelace", "Turing", "Hopper", "Noether", "Godel", "Tanaka", "Patel", "Mensah")
]


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def make_papers(n: int, rng: random.Random) -> list[Paper]:
    rows = [
        json.loads(x) for x in (HERE / "data" / "seed_listings.jsonl").read_text().splitlines() if x
    ]
    sentences = [s.strip() + "." for r in rows for s in r["abstract"].split(". ") if len(s) > 20]
    papers = []
    for i in range(n):
        base = rows[i % len(rows)]
        title = (
            base["title"]
            if i < len(rows)
            else " ".join(rng.sample(base["title"].split(), k=len(base["title"].split())))
        )
        abstract = " ".join(rng.sample(sentences, 8))
        papers.append(
            Paper(
                id=f"arxiv:2509.{10000 + i}",
                title=title,
                abstract=abstract,
                categories=tuple(rng.sample(CATEGORIES, 2)),
                authors=tuple(rng.sample(NAMES, 3)),
                upvotes=rng.choice([None, 0, 3, 12, 40, 150]),
            )
        )
    return papers


def keyword_pool(papers: list[Paper], rng: random.Random) -> list[str]:
    profiles = json.loads((HERE / "data" / "dev_profiles.json").read_text())
    pool = [k for p in profiles for k in p["keywords"]]
    seen = set(pool)
    for paper in papers:
        words = [w.strip(":,.()").lower() for w in paper.title.split() if len(w) > 3]
        for size in (1, 2, 2, 3):
            if len(words) >= size:
                start = rng.randrange(len(words) - size + 1)
                phrase = " ".join(words[start : start + size])
                if phrase and phrase not in seen:
                    seen.add(phrase)
                    pool.append(phrase)
    return pool


def make_subscribers(m: int, pool: list[str], rng: random.Random) -> list[Subscriber]:
    weights = [1 / (rank + 1) for rank in range(len(pool))]
    subs = []
    for i in range(m):
        keywords = tuple(dict.fromkeys(rng.choices(pool, weights=weights, k=rng.randint(2, 6))))
        subs.append(
            Subscriber(
                name=f"s{i}",
                email=f"s{i}@example.org",
                keywords=keywords,
                max_papers=10,
                exclude=(rng.choice(pool),) if rng.random() < 0.1 else (),
                categories=(rng.choice(CATEGORIES),) if rng.random() < 0.1 else (),
                authors=(rng.choice(NAMES),) if rng.random() < 0.05 else (),
            )
        )
    return subs


def embed(papers: list[Paper], subs: list[Subscriber]) -> Semantic:
    """Embed every paper and distinct keyword label once, timing it and its added RSS."""
    from digest.ranking.keywords import parse_keyword
    from digest.ranking.semantic import load_embedder, paper_text

    before = rss_mib()
    started = time.perf_counter()
    embedder = load_embedder()
    loaded = time.perf_counter()
    vectors = embedder.encode([paper_text(p) for p in papers])
    embedded = time.perf_counter()
    labels = sorted({parse_keyword(k).label for s in subs for k in s.keywords})
    keyword_vectors = embedder.encode(labels)
    done = time.perf_counter()
    print(
        f"semantic: model load {loaded - started:.1f} s; {len(papers)} papers embedded in "
        f"{embedded - loaded:.1f} s; {len(labels)} keywords in {done - embedded:.1f} s; "
        f"peak RSS +{rss_mib() - before:.0f} MiB"
    )
    return Semantic(
        papers={p.id: v for p, v in zip(papers, vectors, strict=True)},
        keywords=dict(zip(labels, keyword_vectors, strict=True)),
    )


def load_or_embed(path: Path | None, papers: list[Paper], subs: list[Subscriber]) -> Semantic:
    """The vectors from `path` when it exists, else embedded (and written there if named)."""
    import numpy as np

    if path is not None and path.exists():
        data = np.load(path)
        ids, labels = data["paper_ids"].tolist(), data["labels"].tolist()
        print(f"semantic: {len(ids)} paper and {len(labels)} keyword vectors read from {path}")
        return Semantic(
            papers=dict(zip(ids, data["papers"], strict=True)),
            keywords=dict(zip(labels, data["keywords"], strict=True)),
        )
    semantic = embed(papers, subs)
    if path is not None:
        np.savez(
            path,
            paper_ids=np.array(list(semantic.papers)),
            papers=np.stack(list(semantic.papers.values())),
            labels=np.array(list(semantic.keywords)),
            keywords=np.stack(list(semantic.keywords.values())),
        )
    return semantic


def with_examples(
    subs: list[Subscriber], papers: list[Paper], liked: int, disliked: int, rng: random.Random
) -> list[Subscriber]:
    """Every subscriber with `liked` and `disliked` random papers of the index."""
    ids = [p.id for p in papers]
    out = []
    for sub in subs:
        picked = rng.sample(ids, liked + disliked)
        out.append(
            dataclasses.replace(sub, liked=tuple(picked[:liked]), disliked=tuple(picked[liked:]))
        )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--papers", type=int, default=1000)
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=5, help="runs; the first is 'cold'")
    parser.add_argument("--semantic", action="store_true", help="the hybrid ranker")
    parser.add_argument("--vectors", type=Path, help="read (or write) the embeddings here")
    parser.add_argument("--liked", type=int, default=0, help="liked papers per subscriber")
    parser.add_argument("--disliked", type=int, default=0, help="disliked papers per subscriber")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    papers = make_papers(args.papers, rng)
    subs = make_subscribers(args.subscribers, keyword_pool(papers, rng), rng)
    settings = ScoringParams()
    print(
        f"{len(papers)} papers, {len(subs)} subscribers, "
        f"{len({k for s in subs for k in s.keywords})} distinct keywords; RSS before {rss_mib():.0f} MiB"
    )
    semantic = load_or_embed(args.vectors, papers, subs) if args.semantic else None
    if args.liked or args.disliked:
        subs = with_examples(subs, papers, args.liked, args.disliked, rng)
        print(f"every subscriber likes {args.liked} and dislikes {args.disliked} papers")
    runs = []
    for attempt in range(args.repeat):
        started = time.perf_counter()
        index = build_index(papers, subs, settings)
        indexed = time.perf_counter()
        scores = score_all(index, subs, semantic=semantic)
        done = time.perf_counter()
        runs.append(done - started)
        label = "cold" if attempt == 0 else f"warm {attempt}"
        if attempt == 0:
            cold_rss = rss_mib()
        print(
            f"{label}: index {indexed - started:.2f} s + score all {done - indexed:.2f} s "
            f"= {done - started:.2f} s (mean {scores.matched.mean():.0f} matched per subscriber)"
        )
    warm = sorted(runs[1:]) or runs
    print(
        f"index + score {len(papers)} papers x {len(subs)} subscribers: cold {runs[0]:.2f} s, "
        f"warm median {warm[len(warm) // 2]:.2f} s"
    )
    batch = Batch(papers, subs[:1000], settings=settings)
    t0 = time.perf_counter()
    for row in range(200):
        batch.ranking(row)
    per = (time.perf_counter() - t0) / 200
    print(f"one subscriber's list with reasons: {per * 1000:.2f} ms")
    print(f"peak RSS after the cold run {cold_rss:.0f} MiB; at the end {rss_mib():.0f} MiB")


if __name__ == "__main__":
    main()
