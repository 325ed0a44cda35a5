"""Rank one subscriber's papers with liked and disliked example papers ("more like this",
"less like this", seed papers): the public face of the run's own batched ranking; pure."""

from __future__ import annotations

import dataclasses
from collections.abc import Collection, Sequence

from digest.models import Paper, Subscriber
from digest.ranking.batch import DEFAULT_PARAMS, Ranking, rank_all
from digest.ranking.index import ScoringParams
from digest.ranking.score import Semantic


def rank_with_feedback(
    papers: Sequence[Paper],
    subscriber: Subscriber,
    semantic: Semantic | None,
    *,
    liked: Sequence[str] | None = None,
    disliked: Sequence[str] | None = None,
    candidates: Collection[str] | None = None,
    settings: ScoringParams = DEFAULT_PARAMS,
) -> Ranking:
    """`subscriber`'s ranked `papers` (best first, with reasons), steered by liked and
    disliked papers: the subscriber's own `liked` / `disliked` ids unless given here.

    The rule (hybrid only, `semantic` given): today's hybrid score, plus
    ``settings.like_weight`` x the paper's best cosine similarity to a liked paper and minus
    ``settings.dislike_weight`` x its best to a disliked one, each min-max scaled over the
    subscriber's candidates; a paper at least ``settings.like_gate`` similar to a liked one
    is a candidate even without a keyword match, and says "similar to <title>, which you
    liked". Liked and disliked papers are never ranked themselves. `semantic.papers` must hold
    a unit vector for every example (they need not be among `papers`), `semantic.titles` the
    liked papers' titles. Without `semantic` (lexical only) examples change nothing: on the
    dev set no lexical use of them helped. With no examples the ranking is exactly
    ``rank_all``'s. `candidates` limits the subscriber to those paper ids (the unsent ones).

    This is the run's path: ``rank_all`` (and the run's ``Batch``) apply the same rule to
    every subscriber that has liked or disliked papers.
    """
    sub = dataclasses.replace(
        subscriber,
        liked=subscriber.liked if liked is None else tuple(liked),
        disliked=subscriber.disliked if disliked is None else tuple(disliked),
    )
    allowed = None if candidates is None else [candidates]
    return rank_all(papers, [sub], candidates=allowed, settings=settings, semantic=semantic)[0]
