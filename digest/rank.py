"""Score candidate papers for one subscriber, with reasons; pure, no I/O."""

from __future__ import annotations

import math
from collections.abc import Sequence

from digest.models import Paper, Scored, Subscriber
from digest.text_match import stems

TITLE_WEIGHT = 3.0
ABSTRACT_WEIGHT = 1.0


def _count(haystack: list[str], needle: list[str]) -> int:
    if not needle or len(needle) > len(haystack):
        return 0
    n = len(needle)
    return sum(1 for i in range(len(haystack) - n + 1) if haystack[i : i + n] == needle)


def score_paper(paper: Paper, keywords: Sequence[tuple[str, list[str]]]) -> Scored | None:
    """Score one paper against pre-stemmed keywords; None when no keyword matches."""
    title = stems(paper.title)
    abstract = stems(paper.abstract)
    total = 0.0
    reasons: list[str] = []
    for label, needle in keywords:
        in_title = _count(title, needle)
        in_abstract = _count(abstract, needle)
        if not (in_title or in_abstract):
            continue
        reasons.append(label)
        total += TITLE_WEIGHT * min(in_title, 1) + ABSTRACT_WEIGHT * math.log1p(in_abstract)
    if not reasons:
        return None
    return Scored(paper=paper, score=round(total, 6), reasons=tuple(reasons))


def rank(papers: Sequence[Paper], subscriber: Subscriber) -> list[Scored]:
    """Every matching paper for `subscriber`, best first (ties broken by id, so stable)."""
    keywords = [(k, stems(k)) for k in subscriber.keywords]
    scored = [s for s in (score_paper(p, keywords) for p in papers) if s is not None]
    scored.sort(key=lambda s: (-s.score, s.paper.id))
    return scored
