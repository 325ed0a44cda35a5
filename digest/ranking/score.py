"""Score candidate papers for many subscribers at once; pure, no I/O.

Everything per paper or per distinct keyword is computed once (``ranking.index``); subscribers
meet papers only through sparse products, a chunk of subscribers at a time:

    relevance = P @ K            subscribers x keywords  times  keywords x papers
    then popularity, author and category rules, exclusions, min_score, and a top-k selection.

Pseudo-relevance feedback (papers similar to a subscriber's best ones rise) was measured and
left out: it only reorders papers that already match a keyword, and moved the dev-set
nDCG@10 by 0.001 while costing a fifth of the scoring time.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import sparse

from digest.models import Subscriber
from digest.ranking.index import Index, KeywordTable, semantic_matrices
from digest.ranking.keywords import fold_name

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int32]

DENSE_LIMIT = 25_000_000  # keywords x papers cells kept dense (100 MB of float32)


def _dense(m: Any) -> Floats:
    """A product's result as a dense float32 array, whether it came out sparse or dense."""
    out = m.toarray() if sparse.issparse(m) else m
    return np.asarray(out, dtype=np.float32)


@dataclass(frozen=True)
class Scores:
    """Per subscriber: the top paper positions (best first, -1 padding), their scores, and
    how many papers matched in all; plus which keyword matched which paper (for reasons)."""

    top: Ints
    score: Floats
    matched: Ints
    table: KeywordTable | None = None
    matches: Any = None


def _rows_to_matrix(pairs: list[tuple[int, int]], shape: tuple[int, int]) -> sparse.csr_matrix:
    rows = [r for r, _ in pairs]
    cols = [c for _, c in pairs]
    return sparse.csr_matrix(
        (np.ones(len(pairs), np.float32), (rows, cols)), shape=shape, dtype=np.float32
    )


def _keyword_matrices(
    table: KeywordTable, subs: Sequence[Subscriber]
) -> tuple[sparse.csr_matrix, sparse.csr_matrix]:
    """(wanted, excluded): subscribers x keywords."""
    out = []
    for attr in ("keywords", "exclude"):
        groups = [getattr(sub, attr) for sub in subs]
        texts = [t for group in groups for t in group]
        owners = np.repeat(np.arange(len(subs)), [len(g) for g in groups])
        slots = {t: table.add_text(t) for t in dict.fromkeys(texts)}
        cols = np.array([-1 if slots[t] is None else slots[t] for t in texts], dtype=np.int64)
        keep = cols >= 0
        out.append((owners[keep], cols[keep]))
    shape = (len(subs), max(1, len(table.keywords)))
    (w_rows, w_cols), (x_rows, x_cols) = out
    ones = np.ones
    wanted = sparse.csr_matrix((ones(len(w_rows), np.float32), (w_rows, w_cols)), shape=shape)
    excluded = sparse.csr_matrix((ones(len(x_rows), np.float32), (x_rows, x_cols)), shape=shape)
    return wanted, excluded


def _keyed_matrix(
    subs: Sequence[Subscriber], index: dict[str, int], keys_of: str
) -> sparse.csr_matrix | None:
    """Subscribers x keys (authors or categories), None when no subscriber uses any."""
    if not any(getattr(sub, keys_of) for sub in subs):
        return None
    pairs: list[tuple[int, int]] = []
    for i, sub in enumerate(subs):
        for value in getattr(sub, keys_of):
            key = fold_name(value) if keys_of == "authors" else value
            if key in index:
                pairs.append((i, index[key]))
    return _rows_to_matrix(pairs, (len(subs), max(1, len(index))))


def _top(rel: Floats, keep: int) -> tuple[Ints, Floats]:
    """The `keep` best columns per row (ties by position), -1 where fewer are finite."""
    n = rel.shape[1]
    if keep < n:
        part = np.argpartition(-rel, keep - 1, axis=1)[:, :keep]
    else:
        part = np.tile(np.arange(n), (rel.shape[0], 1))
    vals = np.take_along_axis(rel, part, axis=1)
    order = np.lexsort((part, -vals), axis=1)
    part = np.take_along_axis(part, order, axis=1)
    vals = np.take_along_axis(vals, order, axis=1)
    valid = np.isfinite(vals)
    return np.where(valid, part, -1).astype(np.int32), np.where(valid, vals, 0.0).astype(np.float32)


@dataclass(frozen=True)
class Semantic:
    """Embeddings for the hybrid ranking: unit vectors per paper id and per keyword label."""

    papers: dict[str, Floats]
    keywords: dict[str, Floats]


def score_all(
    index: Index,
    subscribers: Sequence[Subscriber],
    *,
    allowed: Sequence[Collection[int]] | None = None,
    limit: int | None = None,
    semantic: Semantic | None = None,
) -> Scores:
    """Score every paper of `index` for every subscriber, a chunk of subscribers at a time.

    `allowed[i]` restricts subscriber i to those paper positions (their unsent candidates).
    `limit` is how many papers to keep per subscriber (default: the largest max_papers plus
    ``more_limit``).
    """
    s = index.settings
    subs = list(subscribers)
    n = len(index.papers)
    keep = limit or max([sub.max_papers for sub in subs] + [1]) + s.more_limit
    keep = max(1, min(keep, n))
    top = np.full((len(subs), keep), -1, dtype=np.int32)
    best = np.zeros((len(subs), keep), dtype=np.float32)
    matched = np.zeros(len(subs), dtype=np.int32)
    if n == 0 or not subs:
        return Scores(top=top, score=best, matched=matched)
    table = KeywordTable(index)
    wanted, excluded = _keyword_matrices(table, subs)
    k_scores, k_matches = table.build()
    if k_scores.shape[0] * k_scores.shape[1] <= DENSE_LIMIT:
        # subscribers x keywords (sparse) times a dense matrix is one fast C loop per chunk
        k_scores = np.asarray(k_scores.toarray(), dtype=np.float32)
        k_matches = np.asarray(k_matches.toarray(), dtype=np.float32)
    k_sem = k_strong = None
    if semantic is not None and semantic.papers:
        dim = len(next(iter(semantic.papers.values())))
        vectors = np.zeros((n, dim), dtype=np.float32)
        for i, paper in enumerate(index.papers):
            if paper.id in semantic.papers:
                vectors[i] = semantic.papers[paper.id]
        k_sem, k_strong = semantic_matrices(table, semantic.keywords, vectors, s)
    by_author = _keyed_matrix(subs, index.author_index, "authors")
    by_category = _keyed_matrix(subs, index.category_index, "categories")
    restricted = np.array([bool(sub.categories) for sub in subs], dtype=bool)
    uses_authors = np.array([bool(sub.authors) for sub in subs], dtype=bool)
    floors = np.array([sub.min_score for sub in subs], dtype=np.float32)
    allowed_m = None
    if allowed is not None:
        allowed_m = _rows_to_matrix(
            [(i, c) for i, cols in enumerate(allowed) for c in cols], (len(subs), n)
        )

    def run(start: int) -> None:
        rows = slice(start, min(start + s.chunk, len(subs)))
        rel = _dense(wanted[rows] @ k_scores)
        hit = _dense(wanted[rows] @ k_matches) > 0
        exempt = np.zeros_like(hit)
        if k_sem is not None and k_strong is not None:
            sem = _dense(wanted[rows] @ k_sem)
            peak_rel = rel.max(axis=1, keepdims=True)
            peak_sem = sem.max(axis=1, keepdims=True)
            scale = np.where(
                peak_sem > 0, np.maximum(peak_rel, 1.0) / np.maximum(peak_sem, 1e-6), 0
            )
            rel += s.semantic_weight * scale * sem
            if s.semantic_match > 0:
                hit |= _dense(wanted[rows] @ k_strong) > 0
        if floors[rows].any():
            hit &= rel >= floors[rows, None]
        if excluded.nnz:
            hit &= ~(_dense(excluded[rows] @ k_matches) > 0)
        if s.popularity_weight:
            rel *= popularity
        if by_author is not None:
            who = np.flatnonzero(uses_authors[rows])
            if who.size:
                authored = _dense(by_author[rows][who] @ index.author_papers) > 0
                hit[who] |= authored
                rel[who] += authored * (rel[who].max(axis=1, keepdims=True) + 1.0)
                # a followed author's paper is kept whatever its categories
                exempt[who] = authored
        if by_category is not None:
            who = np.flatnonzero(restricted[rows])
            if who.size:
                ok = _dense(by_category[rows][who] @ index.category_papers) > 0
                hit[who] &= ok | exempt[who]
        if allowed_m is not None:
            hit &= _dense(allowed_m[rows]) > 0
        matched[rows] = hit.sum(axis=1)
        np.copyto(rel, np.float32(-np.inf), where=~hit)
        top[rows], best[rows] = _top(rel, keep)

    popularity = (1.0 + s.popularity_weight * index.popularity)[None, :]
    starts = range(0, len(subs), s.chunk)
    if len(starts) > 1 and s.workers > 1:
        # numpy and scipy release the GIL in these kernels; chunks write disjoint rows
        with ThreadPoolExecutor(max_workers=s.workers) as pool:
            list(pool.map(run, starts))
    else:
        for start in starts:
            run(start)
    return Scores(top=top, score=best, matched=matched, table=table, matches=k_matches)
