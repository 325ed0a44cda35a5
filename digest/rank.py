"""Rank candidate papers for many subscribers at once, with reasons; pure, no I/O.

Everything per paper or per distinct keyword is computed once (``rank_index``); subscribers
meet papers only through sparse products, a chunk of subscribers at a time:

    relevance = P @ K            subscribers x keywords  times  keywords x papers
    feedback  = top(relevance) @ similarity      papers like a subscriber's best ones rise
    then popularity, author and category rules, exclusions, min_score, and a top-k selection.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import sparse

from digest.keywords import author_keys, fold_name, parse_keyword
from digest.models import Paper, Scored, Subscriber
from digest.rank_index import Index, KeywordTable, RankSettings

__all__ = ["RankSettings", "Ranking", "Scores", "rank", "rank_all", "score_all"]

Floats = npt.NDArray[np.float32]
Ints = npt.NDArray[np.int64]

DEFAULT_SETTINGS = RankSettings()


@dataclass(frozen=True)
class Scores:
    """Per subscriber: the top paper positions (best first, -1 padding), their scores, and
    how many papers matched in all."""

    top: Ints
    score: Floats
    matched: Ints


@dataclass(frozen=True)
class Ranking:
    """One subscriber's ranked papers (best first) and how many matched in all."""

    subscriber: Subscriber
    items: tuple[Scored, ...]
    matched: int


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
    wanted: list[tuple[int, int]] = []
    excluded: list[tuple[int, int]] = []
    for i, sub in enumerate(subs):
        for into, texts in ((wanted, sub.keywords), (excluded, sub.exclude)):
            for text in texts:
                kw = parse_keyword(text)
                if kw.stems:
                    into.append((i, table.add(kw)))
    shape = (len(subs), max(1, len(table.keywords)))
    return _rows_to_matrix(wanted, shape), _rows_to_matrix(excluded, shape)


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


def _feedback(rel: Floats, index: Index, s: RankSettings) -> Floats:
    """Pseudo-relevance feedback: each paper gains its similarity to the subscriber's top
    papers, in the subscriber's own score units (so ``min_score`` keeps its meaning)."""
    if s.prf_docs <= 0 or s.prf_weight <= 0 or rel.shape[1] < 2:
        return rel
    k = min(s.prf_docs, rel.shape[1] - 1)
    peak = rel.max(axis=1, keepdims=True)
    safe = np.where(peak > 0, peak, 1.0)
    tops = np.argpartition(-rel, k - 1, axis=1)[:, :k]
    weights = np.take_along_axis(rel / safe, tops, axis=1)
    rows = np.repeat(np.arange(rel.shape[0]), k)
    seed = sparse.csr_matrix((weights.ravel(), (rows, tops.ravel())), shape=rel.shape)
    spread = np.asarray(seed @ index.similarity, dtype=np.float32) / k
    return np.asarray(rel + s.prf_weight * np.maximum(peak, 0) * spread, dtype=np.float32)


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
    return np.where(valid, part, -1).astype(np.int64), np.where(valid, vals, 0.0).astype(np.float32)


def score_all(
    index: Index,
    subscribers: Sequence[Subscriber],
    *,
    allowed: Sequence[Collection[int]] | None = None,
    limit: int | None = None,
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
    top = np.full((len(subs), keep), -1, dtype=np.int64)
    best = np.zeros((len(subs), keep), dtype=np.float32)
    matched = np.zeros(len(subs), dtype=np.int64)
    if n == 0 or not subs:
        return Scores(top=top, score=best, matched=matched)
    table = KeywordTable(index)
    wanted, excluded = _keyword_matrices(table, subs)
    k_scores, k_matches = table.build()
    by_author = _keyed_matrix(subs, index.author_index, "authors")
    by_category = _keyed_matrix(subs, index.category_index, "categories")
    restricted = np.array([bool(sub.categories) for sub in subs], dtype=bool)
    floors = np.array([sub.min_score for sub in subs], dtype=np.float32)
    allowed_m = None
    if allowed is not None:
        allowed_m = _rows_to_matrix(
            [(i, c) for i, cols in enumerate(allowed) for c in cols], (len(subs), n)
        )
    for start in range(0, len(subs), s.chunk):
        rows = slice(start, min(start + s.chunk, len(subs)))
        rel = np.asarray((wanted[rows] @ k_scores).toarray(), dtype=np.float32)
        hit = (wanted[rows] @ k_matches).toarray() > 0
        if floors[rows].any():
            hit &= rel >= floors[rows, None]
        if excluded.nnz:
            hit &= ~((excluded[rows] @ k_matches).toarray() > 0)
        rel = _feedback(rel, index, s)
        if s.popularity_weight:
            rel = rel * (1.0 + s.popularity_weight * index.popularity[None, :])
        authored = None
        if by_author is not None:
            authored = (by_author[rows] @ index.author_papers).toarray() > 0
            hit |= authored
            rel = rel + authored * (rel.max(axis=1, keepdims=True) + 1.0)
        if by_category is not None:
            ok = (by_category[rows] @ index.category_papers).toarray() > 0
            ok |= ~restricted[rows, None]
            if authored is not None:
                ok |= authored
            hit &= ok
        if allowed_m is not None:
            hit &= allowed_m[rows].toarray() > 0
        matched[rows] = hit.sum(axis=1)
        top[rows], best[rows] = _top(np.where(hit, rel, -np.inf).astype(np.float32), keep)
    return Scores(top=top, score=best, matched=matched)


def reasons_for(paper: Paper, subscriber: Subscriber, index: Index) -> tuple[str, ...]:
    """Which of the subscriber's authors and keywords this paper matched, in their order."""
    i = index.position[paper.id]
    title, abstract = index.titles[i], index.abstracts[i]
    tokens = set(title) | set(abstract)
    names = list(index.vocab)

    def has(stem: str) -> bool:
        return stem in tokens or any(names[c] in tokens for c, _ in index.variants(stem))

    out: list[str] = []
    paper_authors = set().union(*(author_keys(a) for a in paper.authors))
    out.extend(f"author: {n}" for n in subscriber.authors if fold_name(n) in paper_authors)
    for text in subscriber.keywords:
        kw = parse_keyword(text)
        if not kw.stems:
            continue
        if not kw.is_phrase:
            found = has(kw.stems[0])
        else:
            found = _has_phrase(title, kw.stems) or _has_phrase(abstract, kw.stems)
            if not found and not kw.quoted:
                found = all(has(st) for st in kw.stems)
        if found:
            out.append(kw.label)
    return tuple(out)


def _has_phrase(tokens: list[str], phrase: tuple[str, ...]) -> bool:
    n = len(phrase)
    return any(tuple(tokens[i : i + n]) == phrase for i in range(len(tokens) - n + 1))


def phrases_of(subscribers: Iterable[Subscriber]) -> set[tuple[str, ...]]:
    """Every multi-word keyword's stems, to index as phrase terms."""
    return {
        kw.stems
        for sub in subscribers
        for kw in map(parse_keyword, (*sub.keywords, *sub.exclude))
        if kw.is_phrase
    }


def build_index(
    papers: Iterable[Paper], subscribers: Sequence[Subscriber], settings: RankSettings
) -> Index:
    """An Index over `papers` (deduplicated by id, in id order) with the subscribers' phrases."""
    ordered = sorted({p.id: p for p in papers}.values(), key=lambda p: p.id)
    return Index(ordered, settings, phrases_of(subscribers))


def rank_all(
    papers: Sequence[Paper],
    subscribers: Sequence[Subscriber],
    *,
    candidates: Sequence[Collection[str]] | None = None,
    settings: RankSettings = DEFAULT_SETTINGS,
) -> list[Ranking]:
    """Rank `papers` for every subscriber (each limited to `candidates[i]` ids when given)."""
    index = build_index(papers, subscribers, settings)
    allowed = None
    if candidates is not None:
        allowed = [[index.position[c] for c in ids if c in index.position] for ids in candidates]
    result = score_all(index, subscribers, allowed=allowed)
    out: list[Ranking] = []
    for row, sub in enumerate(subscribers):
        items = []
        for pos, score in zip(result.top[row], result.score[row], strict=True):
            if pos < 0:
                break
            paper = index.papers[pos]
            reasons = reasons_for(paper, sub, index)
            items.append(Scored(paper=paper, score=round(float(score), 6), reasons=reasons))
        out.append(Ranking(subscriber=sub, items=tuple(items), matched=int(result.matched[row])))
    return out


def rank(
    papers: Sequence[Paper], subscriber: Subscriber, settings: RankSettings = DEFAULT_SETTINGS
) -> list[Scored]:
    """One subscriber's matching papers, best first (up to max_papers + more_limit)."""
    return list(rank_all(papers, [subscriber], settings=settings)[0].items)
