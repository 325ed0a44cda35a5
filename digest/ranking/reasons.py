"""Why a paper is in a digest: followed authors, matched keywords, similar meaning, or a liked
paper it resembles; pure."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from digest.models import Paper, Subscriber
from digest.ranking.keywords import author_keys, fold_name, parse_keyword

Floats = npt.NDArray[np.float32]


PARTLY = "partly: "  # a keyword some but not all of whose words the paper has


def matched_reasons(
    paper: Paper, sub: Subscriber, keyword_match: Callable[[str], str | None]
) -> tuple[str, ...]:
    """Followed authors of `paper`, then the subscriber's keywords that match it, in the
    subscriber's order; `keyword_match(text)` says "full", "partial" or None for one keyword.
    Full matches come first; a keyword only some of whose words appear says so."""
    out: list[str] = []
    if sub.authors:
        keys = set().union(*map(author_keys, paper.authors))
        out.extend(f"author: {n}" for n in sub.authors if fold_name(n) in keys)
    found = [(text, keyword_match(text)) for text in sub.keywords]
    out.extend(parse_keyword(t).label for t, how in found if how == "full")
    out.extend(PARTLY + parse_keyword(t).label for t, how in found if how == "partial")
    return tuple(out)


def similar_reasons(
    vector: Floats | None, sub: Subscriber, keyword_vectors: dict[str, Floats], floor: float
) -> tuple[str, ...]:
    """'similar to <keyword>' for each keyword whose embedding is at least `floor` close to
    the paper's (the semantic match rule); nothing without a paper vector."""
    if vector is None:
        return ()
    out = []
    for text in sub.keywords:
        label = parse_keyword(text).label
        kv = keyword_vectors.get(label)
        if kv is not None and float(kv @ vector) >= floor:
            out.append(f"similar to {label}")
    return tuple(out)


TITLE_CHARS = 60  # a liked paper's title in a reason, at most


def short_title(title: str, limit: int = TITLE_CHARS) -> str:
    """`title` on one line, cut at a word to at most `limit` characters with "…"."""
    text = " ".join(title.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,.;:-\u2013\u2014") + "…"


def liked_reasons(
    vector: Floats | None,
    sub: Subscriber,
    paper_vectors: dict[str, Floats],
    titles: dict[str, str],
    gate: float,
) -> tuple[str, ...]:
    """'similar to <title>, which you liked' for the liked paper closest to this one, when at
    least `gate` close (the rule that let it in); nothing without vectors."""
    if vector is None or not sub.liked:
        return ()
    near = [(float(paper_vectors[i] @ vector), i) for i in sub.liked if i in paper_vectors]
    if not near:
        return ()
    best, pid = max(near, key=lambda pair: pair[0])
    if best < gate:
        return ()
    title = titles.get(pid)
    return (
        f"similar to {short_title(title)}, which you liked"
        if title
        else "similar to a paper you liked",
    )
