"""Liked and disliked papers on the dev relevance set: what simulated clicks and seed papers
change in nDCG@10 (issue 28's protocols), with the like knobs chosen leave-one-profile-out.

Usage: python bench/feedback.py [--data bench/data] [--seeds 10] [--no-lopo] [--workers 2]

Protocols (every ranking is the product's: ``rank_all`` with the product's MiniLM vectors):

- One day: the 150 unique papers cut into 5 random folds (``--seeds`` cuts x 5 rotations).
  Day 1 is one fold, ranked without feedback; the reader sees its top 10 and clicks "more"
  on each shown paper of grade >= 1 and "less" on each shown paper of grade 0, at rates
  100%/100% and 50%/25% (likes/dislikes). Day 2 is the other four folds, ranked with and
  without those clicks: the nDCG@10 difference.
- Three days: days 1-3 are three folds, each ranked with the clicks so far; folds 4-5 are
  ranked with and without all the clicks.
- Seeds: k = 1, 3, 5 of a profile's grade >= 1 papers as liked seeds, removed from the pool
  (``--seeds`` draws); the rest ranked with and without them. A profile with no more than k
  such papers has nothing left to find and sits that cell out (the table says how many count).

Each for the profiles as written and for one-keyword subscribers (each profile split into one
subscriber per keyword, judged by the whole profile's grades; a profile's figure is the mean
of its keywords'). A cell is the mean over profiles of each profile's mean difference.

Leave-one-profile-out: for each profile, the knob combination whose mean difference over the
target cells (both populations) is best on the other 23 profiles is scored on that one.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from quality import embed_all, load, ndcg  # type: ignore[import-not-found]

from digest.models import Paper, Subscriber
from digest.ranking.batch import rank_all
from digest.ranking.index import ScoringParams
from digest.ranking.score import Semantic

HERE = Path(__file__).resolve().parent
RATES = ((1.0, 1.0), (0.5, 0.25))
KS = (1, 3, 5)
# the values leave-one-profile-out chooses among; a gate above 1 is no gate
GRID: dict[str, list[float]] = {
    "like_weight": [0.1, 0.2, 0.3],
    "dislike_weight": [0.0, 0.1],
    "like_gate": [0.3, 0.35, 0.4, 2.0],
}
# (cell, population) -> the target on the mean difference; the LOPO objective is their mean
TARGETS: dict[tuple[str, str], float] = {
    **{
        (cell, "written"): -0.005
        for cell in (
            "one day 100/100",
            "one day 50/25",
            "three days 100/100",
            "three days 50/25",
            "seeds k=3",
        )
    },
    ("one day 50/25", "one keyword"): 0.01,
    ("three days 50/25", "one keyword"): 0.03,
    ("seeds k=3", "one keyword"): 0.04,
}
OBJECTIVE = [
    ("one day 50/25", "written"),
    ("three days 50/25", "written"),
    ("seeds k=3", "written"),
    ("one day 50/25", "one keyword"),
    ("three days 50/25", "one keyword"),
    ("seeds k=3", "one keyword"),
]

Grades = dict[str, float]
Cells = dict[tuple[str, str], np.ndarray]  # (cell, population) -> per-profile difference


@dataclasses.dataclass(frozen=True)
class Population:
    """Subscribers, the profile each belongs to, and the grades each is judged by."""

    name: str
    subs: list[Subscriber]
    owner: list[int]
    grades: list[Grades]


def populations(subs: list[Subscriber], grades: list[Grades]) -> list[Population]:
    one = [
        (dataclasses.replace(sub, name=f"{sub.name}/{k}", keywords=(kw,)), p)
        for p, sub in enumerate(subs)
        for k, kw in enumerate(sub.keywords)
    ]
    return [
        Population("written", subs, list(range(len(subs))), grades),
        Population(
            "one keyword", [s for s, _ in one], [p for _, p in one], [grades[p] for _, p in one]
        ),
    ]


class Bench:
    """The dev set, its embeddings, and the rankings that do not depend on the knobs."""

    def __init__(self, papers: list[Paper], pops: list[Population], semantic: Semantic, seeds: int):
        self.papers = papers
        self.by_id = {p.id: p for p in papers}
        self.pops = pops
        self.semantic = semantic
        self.seeds = seeds
        self.profiles = max(pops[0].owner) + 1
        self._plain: dict[tuple[Any, ...], list[list[str]]] = {}

    def rank(
        self,
        pool: Sequence[str],
        subs: list[Subscriber],
        params: ScoringParams,
        candidates: list[set[str]] | None = None,
    ) -> list[list[str]]:
        """Each subscriber's digest of `pool` (its top 10, best first), by the product."""
        papers = [self.by_id[i] for i in pool]
        found = rank_all(
            papers,
            subs,
            settings=params,
            semantic=self.semantic,
            candidates=candidates,  # type: ignore[arg-type]
        )
        return [
            [s.paper.id for s in r.items[: sub.max_papers]]
            for r, sub in zip(found, subs, strict=True)
        ]

    def plain(self, key: tuple[Any, ...], make: Callable[[], list[list[str]]]) -> list[list[str]]:
        if key not in self._plain:
            self._plain[key] = make()
        return self._plain[key]

    def folds(self, seed: int) -> list[list[str]]:
        ids = sorted(self.by_id)
        random.Random(seed).shuffle(ids)
        size = len(ids) // 5
        return [ids[f * size : (f + 1) * size] if f < 4 else ids[4 * size :] for f in range(5)]

    def per_profile(self, pop: Population, diffs: list[list[float]]) -> np.ndarray:
        """Mean difference per profile: over its subscribers and repetitions (NaN: none)."""
        sums, counts = np.zeros(self.profiles), np.zeros(self.profiles)
        for row, values in enumerate(diffs):
            sums[pop.owner[row]] += sum(values)
            counts[pop.owner[row]] += len(values)
        with np.errstate(invalid="ignore"):
            return sums / counts

    def days(self, pop: Population, params: ScoringParams, rates: tuple[float, float], n: int):
        """Per subscriber, the nDCG@10 differences of `n` days of clicks over all cuts."""
        diffs: list[list[float]] = [[] for _ in pop.subs]
        base = ScoringParams()
        for seed in range(self.seeds):
            folds = self.folds(seed)
            for r in range(5):
                shown_days = [folds[(r + d) % 5] for d in range(n)]
                rest = sorted(i for d in range(n, 5) for i in folds[(r + d) % 5])
                liked: list[list[str]] = [[] for _ in pop.subs]
                disliked: list[list[str]] = [[] for _ in pop.subs]
                for day, pool in enumerate(shown_days):
                    subs = self._with(pop.subs, liked, disliked)
                    if day == 0:  # no clicks yet: the same for every knob
                        key = (pop.name, seed, r, "day1")
                        shown = self.plain(key, lambda p=pool: self.rank(p, pop.subs, base))
                    else:
                        shown = self.rank(pool, subs, params)
                    rng = random.Random(f"{pop.name}-{seed}-{r}-{rates}-{day}")
                    for row, top in enumerate(shown):
                        for pid in top:
                            grade, draw = pop.grades[row].get(pid, 0.0), rng.random()
                            if grade >= 1 and draw < rates[0]:
                                liked[row].append(pid)
                            elif grade == 0 and draw < rates[1]:
                                disliked[row].append(pid)
                key = (pop.name, seed, r, "rest", n)
                without = self.plain(key, lambda p=rest: self.rank(p, pop.subs, base))
                with_ = self.rank(rest, self._with(pop.subs, liked, disliked), params)
                for row in range(len(pop.subs)):
                    g = {i: v for i, v in pop.grades[row].items() if i in set(rest)}
                    diffs[row].append(ndcg(with_[row], g) - ndcg(without[row], g))
        return self.per_profile(pop, diffs)

    def with_seeds(self, pop: Population, params: ScoringParams, k: int) -> np.ndarray:
        """Per profile, the nDCG@10 difference of k seed papers (NaN: too few to leave any)."""
        diffs: list[list[float]] = [[] for _ in pop.subs]
        ids = sorted(self.by_id)
        for draw in range(self.seeds):
            seeds = []
            for p in range(self.profiles):
                good = sorted(i for i, g in pop.grades[pop.owner.index(p)].items() if g >= 1)
                seeds.append(
                    random.Random(f"{draw}-{p}-{k}").sample(good, k) if len(good) > k else None
                )
            rows = [row for row, p in enumerate(pop.owner) if seeds[p] is not None]
            subs = [pop.subs[row] for row in rows]
            allowed = [set(ids) - set(seeds[pop.owner[row]] or ()) for row in rows]
            key = (pop.name, draw, k, "seeds")
            without = self.plain(
                key, lambda s=subs, a=allowed: self.rank(ids, s, ScoringParams(), a)
            )
            liked = [
                dataclasses.replace(s, liked=tuple(seeds[pop.owner[row]] or ()))
                for s, row in zip(subs, rows, strict=True)
            ]
            with_ = self.rank(ids, liked, params, allowed)
            for j, row in enumerate(rows):
                g = {i: v for i, v in pop.grades[row].items() if i in allowed[j]}
                diffs[row].append(ndcg(with_[j], g) - ndcg(without[j], g))
        return self.per_profile(pop, diffs)

    @staticmethod
    def _with(
        subs: list[Subscriber], liked: list[list[str]], disliked: list[list[str]]
    ) -> list[Subscriber]:
        return [
            dataclasses.replace(s, liked=tuple(a), disliked=tuple(b))
            for s, a, b in zip(subs, liked, disliked, strict=True)
        ]

    def cells(self, params: ScoringParams) -> Cells:
        out: Cells = {}
        for pop in self.pops:
            for n, label in ((1, "one day"), (3, "three days")):
                for rates in RATES:
                    name = f"{label} {rates[0] * 100:.0f}/{rates[1] * 100:.0f}"
                    out[(name, pop.name)] = self.days(pop, params, rates, n)
            for k in KS:
                out[(f"seeds k={k}", pop.name)] = self.with_seeds(pop, params, k)
        return out


_BENCH: Bench | None = None


def _cells(combo: dict[str, float]) -> Cells:
    assert _BENCH is not None
    return _BENCH.cells(dataclasses.replace(ScoringParams(), **combo))


def objective(cells: Cells, rows: Sequence[int]) -> float:
    return float(np.mean([np.nanmean(cells[c][list(rows)]) for c in OBJECTIVE]))


def table(title: str, cells: Cells, chosen: Counter[str] | None = None) -> None:
    print(f"\n{title}")
    print(f"  {'cell':<20} {'population':<12} {'mean diff':>10} {'min':>8} {'profiles':>8}  target")
    for (cell, pop), values in cells.items():
        ok = values[~np.isnan(values)]
        target = TARGETS.get((cell, pop))
        mark = (
            ""
            if target is None
            else f">= {target:+.3f} {'met' if ok.mean() >= target else 'NOT met'}"
        )
        print(f"  {cell:<20} {pop:<12} {ok.mean():>+10.4f} {ok.min():>+8.4f} {len(ok):>8}  {mark}")
    if chosen:
        print("  choices made on 23 profiles (times chosen):")
        for knobs, times in chosen.most_common(5):
            print(f"    {times:>2}x {knobs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=HERE / "data")
    parser.add_argument("--seeds", type=int, default=10, help="fold cuts, and seed draws")
    parser.add_argument("--no-lopo", action="store_true", help="the shipped knobs only")
    parser.add_argument("--workers", type=int, default=2, help="processes for the grid")
    args = parser.parse_args()
    from digest.ranking.semantic import MAX_TOKENS

    papers, subs, grades = load(args.data)
    pops = populations(subs, grades)
    semantic = embed_all(papers, pops[1].subs, MAX_TOKENS)
    semantic = dataclasses.replace(semantic, titles={p.id: p.title for p in papers})
    bench = Bench(papers, pops, semantic, args.seeds)
    print(
        f"{len(papers)} papers, {len(subs)} profiles, {len(pops[1].subs)} one-keyword "
        f"subscribers; {args.seeds} cuts x 5 rotations, {args.seeds} seed draws"
    )
    started = time.perf_counter()
    shipped = ScoringParams()
    shipped_cells = bench.cells(shipped)
    knobs = {k: getattr(shipped, k) for k in GRID}
    table(
        f"shipped knobs {knobs}, all 24 profiles ({time.perf_counter() - started:.0f} s)",
        shipped_cells,
    )
    if args.no_lopo:
        return
    combos = [dict(zip(GRID, v, strict=True)) for v in itertools.product(*GRID.values())]
    global _BENCH
    _BENCH = bench
    # one process per core (forked: they share the embeddings); the shipped cells are known
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        todo = [c for c in combos if c != knobs]
        done = dict(zip(map(json.dumps, todo), pool.map(_cells, todo), strict=True))
    results = [(c, shipped_cells if c == knobs else done[json.dumps(c)]) for c in combos]
    held: Cells = {c: np.full(bench.profiles, np.nan) for c in shipped_cells}
    chosen: Counter[str] = Counter()
    for p in range(bench.profiles):
        others = [q for q in range(bench.profiles) if q != p]
        best = max(range(len(results)), key=lambda r: (objective(results[r][1], others), -r))
        combo, cells = results[best]
        chosen[json.dumps(combo, sort_keys=True)] += 1
        for c in held:
            held[c][p] = cells[c][p]
    table(
        f"leave-one-profile-out over {len(results)} combinations of {', '.join(GRID)} "
        f"({time.perf_counter() - started:.0f} s)",
        held,
        chosen,
    )


if __name__ == "__main__":
    main()
