"""The ranking entry points: build the index, score every subscriber in one batch, and give
each subscriber's ranked papers with their reasons on demand; pure."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from digest.models import Paper, Scored, Subscriber, Windows
from digest.ranking.index import Index, ScoringParams
from digest.ranking.keywords import parse_keyword
from digest.ranking.reasons import PARTLY, liked_reasons, matched_reasons, similar_reasons
from digest.ranking.score import Allowed, Semantic, score_all

DEFAULT_PARAMS = ScoringParams()


@dataclass(frozen=True)
class Ranking:
    """One subscriber's ranked papers (best first) and how many matched in all."""

    subscriber: Subscriber
    items: tuple[Scored, ...]
    matched: int


def phrases_of(subscribers: Iterable[Subscriber]) -> set[tuple[str, ...]]:
    """Every multi-word keyword's stems, to index as phrase terms."""
    texts = {t for sub in subscribers for group in (sub.keywords, sub.exclude) for t in group}
    return {kw.stems for kw in map(parse_keyword, texts) if len(kw.stems) > 1}


def build_index(
    papers: Iterable[Paper], subscribers: Sequence[Subscriber], settings: ScoringParams
) -> Index:
    """An Index over `papers` (deduplicated by id, in id order) with the subscribers' phrases."""
    ordered = sorted({p.id: p for p in papers}.values(), key=lambda p: p.id)
    return Index(ordered, settings, phrases_of(subscribers))


class Batch:
    """Scores for many subscribers; each subscriber's Ranking (with reasons) is built only
    when asked for, so a large list does its per-paper Python work one email at a time."""

    def __init__(
        self,
        papers: Iterable[Paper],
        subscribers: Sequence[Subscriber],
        *,
        candidates: Sequence[Collection[str]] | Windows | None = None,
        settings: ScoringParams = DEFAULT_PARAMS,
        semantic: Semantic | None = None,
        index: Index | None = None,
    ) -> None:
        """`index`, when given, is one built already over (at least) these papers with
        these subscribers' phrases: a run builds one and ranks every chunk with it."""
        self.subscribers = list(subscribers)
        self.index = index or build_index(papers, self.subscribers, settings)
        allowed: Sequence[Collection[int]] | Allowed | None = None
        if isinstance(candidates, Windows):
            allowed = _allowed(candidates, self.index.position, len(self.subscribers))
        elif candidates is not None:
            pos = self.index.position
            allowed = [[pos[c] for c in ids if c in pos] for ids in candidates]
        self.semantic = semantic
        self.scores = score_all(self.index, self.subscribers, allowed=allowed, semantic=semantic)

    def __len__(self) -> int:
        return len(self.subscribers)

    def ranking(self, row: int) -> Ranking:
        """Subscriber `row`'s ranked papers with their reasons: no further than the email
        can use (max_papers, then ``more_limit`` strong matches)."""
        sub = self.subscribers[row]
        items = []
        cap, more, strong_after = sub.max_papers, self.index.settings.more_limit, 0
        # as Python numbers: numpy scalars make each comparison and index below slower
        top, scores = self.scores.top[row].tolist(), self.scores.score[row].tolist()
        for pos, score in zip(top, scores, strict=True):
            if pos < 0:
                break
            paper = self.index.papers[pos]
            found = self._reasons(pos, sub)
            strong = tuple(r for r in found if not r.startswith(PARTLY))
            # full matches first; else meaning (more telling than a stray word), of a keyword
            # or of a liked paper; else words
            reasons = strong or self._similar(paper, sub) or self._liked(paper, sub) or found
            items.append(Scored(paper=paper, score=round(score, 6), reasons=reasons))
            weak = not strong and reasons is found and bool(found)  # only some words matched
            if len(items) > cap and not weak:
                strong_after += 1
                if strong_after >= more:
                    break
        return Ranking(subscriber=sub, items=tuple(items), matched=int(self.scores.matched[row]))

    def _reasons(self, pos: int, sub: Subscriber) -> tuple[str, ...]:
        table, matches, full = self.scores.table, self.scores.matches, self.scores.full

        def matched(text: str) -> str | None:
            row = table.add_text(text) if table is not None else None
            if row is None or not matches[row, pos]:
                return None
            return "full" if full[row, pos] else "partial"

        return matched_reasons(self.index.papers[pos], sub, matched)

    def _similar(self, paper: Paper, sub: Subscriber) -> tuple[str, ...]:
        sem = self.semantic
        if sem is None:
            return ()
        floor = self.index.settings.semantic_floor
        return similar_reasons(sem.papers.get(paper.id), sub, sem.keywords, floor)

    def _liked(self, paper: Paper, sub: Subscriber) -> tuple[str, ...]:
        sem = self.semantic
        if sem is None or not sub.liked:
            return ()
        # a hair below the gate: the scorer's batched float32 product may round the other way
        gate = self.index.settings.like_gate - 1e-6
        return liked_reasons(sem.papers.get(paper.id), sub, sem.papers, sem.titles, gate)


def _allowed(found: Windows, pos: dict[str, int], rows: int) -> Allowed:
    """Windows of paper ids as the scorer's compact position arrays."""
    windows = []
    window_of = np.full(rows, -1, dtype=np.int32)
    for w, (ids, members) in enumerate(found.groups):
        windows.append(np.array([pos[c] for c in ids if c in pos], dtype=np.intp))
        window_of[list(members)] = w
    excluded = {
        row: np.array([pos[c] for c in gone if c in pos], dtype=np.intp)
        for row, gone in found.sent.items()
    }
    return Allowed(rows, windows, window_of, excluded)


def rank_all(
    papers: Sequence[Paper],
    subscribers: Sequence[Subscriber],
    *,
    candidates: Sequence[Collection[str]] | None = None,
    settings: ScoringParams = DEFAULT_PARAMS,
    semantic: Semantic | None = None,
) -> list[Ranking]:
    """Rank `papers` for every subscriber (each limited to `candidates[i]` ids when given)."""
    batch = Batch(papers, subscribers, candidates=candidates, settings=settings, semantic=semantic)
    return [batch.ranking(i) for i in range(len(batch))]


def rank(
    papers: Sequence[Paper], subscriber: Subscriber, settings: ScoringParams = DEFAULT_PARAMS
) -> list[Scored]:
    """One subscriber's matching papers, best first (up to max_papers + 2 * more_limit)."""
    return list(rank_all(papers, [subscriber], settings=settings)[0].items)
