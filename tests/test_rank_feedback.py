"""Ranking with liked and disliked papers (issue 28): the gate, the reasons, the dislike side,
and that a subscriber without examples ranks exactly as before; hand-made vectors, no model."""

from __future__ import annotations

import dataclasses

import numpy as np

from digest.models import Paper, Subscriber
from digest.ranking.batch import build_index, rank_all
from digest.ranking.examples import Examples
from digest.ranking.feedback import rank_with_feedback
from digest.ranking.index import ScoringParams
from digest.ranking.reasons import short_title
from digest.ranking.score import Semantic, score_all

DIM = 8
LONG = "Message passing on molecular graphs: a study of oversmoothing in very deep networks"


def _unit(*parts: float) -> np.ndarray:
    v = np.zeros(DIM, dtype=np.float32)
    v[: len(parts)] = parts
    return (v / np.linalg.norm(v)).astype(np.float32)


def _paper(pid: str, title: str) -> Paper:
    return Paper(id=pid, title=title, abstract=f"{title}. We report experiments.")


# keyword "graph neural networks" is axis 0; a liked paper (not a candidate) lies on axis 1
PAPERS = [
    _paper("p:a", "Graph neural networks for traffic forecasting"),
    _paper("p:b", "Graph neural networks for weather forecasting"),
    _paper("p:c", "Graph neural networks for molecular property prediction at scale"),
    _paper("p:gated", "Oversmoothing of message passing, revisited"),
    _paper("p:far", "A survey of protein folding"),
]
VECTORS = {
    "p:a": _unit(0.62, 0.0, 0.785),
    "p:b": _unit(0.60, 0.0, 0.0, 0.8),
    "p:c": _unit(0.50, 0.0, 0.0, 0.0, 0.866),
    "p:gated": _unit(0.1, 0.6, 0.0, 0.0, 0.0, 0.79),
    "p:far": _unit(0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0),
    "liked:1": _unit(0.0, 1.0),
    "disliked:1": _unit(0.0, 0.0, 1.0),
}
SEMANTIC = Semantic(
    papers=VECTORS,
    keywords={"graph neural networks": _unit(1.0)},
    titles={"liked:1": LONG},
)


def _sub(name: str = "s", **extra: object) -> Subscriber:
    return Subscriber(
        name=name,
        email=f"{name}@example.org",
        keywords=("graph neural networks",),
        **extra,  # type: ignore[arg-type]
    )


def _ids(ranking: object) -> list[str]:
    return [s.paper.id for s in ranking.items]  # type: ignore[attr-defined]


def test_subscribers_without_examples_rank_exactly_as_without_the_feature() -> None:
    """Rows without liked or disliked papers get bit-identical top papers, scores and counts
    whether or not other subscribers in the same chunks have examples."""
    rng = np.random.default_rng(3)
    words = ["graph", "neural", "networks", "protein", "folding", "traffic", "diffusion"]
    papers = [_paper(f"p:{i:03d}", " ".join(rng.choice(words, 5))) for i in range(60)]
    vectors = {p.id: _unit(*rng.normal(size=DIM)) for p in papers}
    keywords = {w: _unit(*rng.normal(size=DIM)) for w in words}
    plain = [
        Subscriber(name=f"s{i}", email=f"s{i}@x.org", keywords=tuple(rng.choice(words, 2)))
        for i in range(9)
    ]
    mixed = [
        dataclasses.replace(sub, liked=("p:001", "p:017"), disliked=("p:030",)) if i % 3 else sub
        for i, sub in enumerate(plain)
    ]
    settings = ScoringParams(chunk=4)
    index = build_index(papers, plain, settings)
    semantic = Semantic(papers=vectors, keywords=keywords)
    before = score_all(index, plain, semantic=semantic)
    after = score_all(index, mixed, semantic=semantic)
    same = [i for i in range(len(plain)) if i % 3 == 0]
    assert np.array_equal(before.top[same], after.top[same])
    assert np.array_equal(before.score[same], after.score[same])
    assert np.array_equal(before.matched[same], after.matched[same])
    assert not np.array_equal(before.top, after.top)  # the others did change
    old = rank_all(papers, plain, settings=settings, semantic=semantic)
    new = rank_all(papers, mixed, settings=settings, semantic=semantic)
    assert [old[i].items for i in same] == [new[i].items for i in same]


def test_a_paper_close_to_a_liked_one_enters_through_the_gate_and_says_why() -> None:
    """A paper with no keyword match that is at least like_gate similar to a liked paper is
    ranked, with the reason "similar to <shortened title>, which you liked"."""
    without = rank_all(PAPERS, [_sub()], semantic=SEMANTIC)[0]
    assert "p:gated" not in _ids(without)
    ranking = rank_all(PAPERS, [_sub(liked=("liked:1",))], semantic=SEMANTIC)[0]
    gated = {s.paper.id: s for s in ranking.items}["p:gated"]
    short = short_title(LONG)
    assert gated.reasons == (f"similar to {short}, which you liked",)
    assert short.endswith("…") and len(short) <= 60 and LONG.startswith(short[:-1])
    assert "p:far" not in _ids(ranking)
    assert {s.reasons for s in ranking.items if s.paper.id != "p:gated"} == {
        ("graph neural networks",)
    }


def test_a_paper_like_a_disliked_one_drops() -> None:
    """The keyword's best paper falls below the next one when it resembles a disliked paper."""
    assert _ids(rank_all(PAPERS, [_sub()], semantic=SEMANTIC)[0])[:2] == ["p:a", "p:b"]
    ranking = rank_all(PAPERS, [_sub(disliked=("disliked:1",))], semantic=SEMANTIC)[0]
    assert _ids(ranking)[:2] == ["p:b", "p:a"]
    assert all(s.score >= 0 for s in ranking.items)


def test_liked_and_disliked_papers_are_never_ranked_themselves() -> None:
    """An example that is also a candidate is left out of that subscriber's ranking only."""
    subs = [_sub("a", liked=("p:b",), disliked=("p:c",)), _sub("b")]
    mine, other = rank_all(PAPERS, subs, semantic=SEMANTIC)
    assert {"p:b", "p:c"}.isdisjoint(_ids(mine))
    assert {"p:b", "p:c"} <= set(_ids(other))


def test_examples_change_nothing_in_a_lexical_ranking() -> None:
    """Without embeddings liked and disliked papers have no effect (no lexical use helped)."""
    plain = rank_all(PAPERS, [_sub()])[0]
    steered = rank_all(PAPERS, [_sub(liked=("p:gated",), disliked=("p:a",))])[0]
    assert plain.items == steered.items


def test_the_public_function_equals_the_batched_path() -> None:
    """rank_with_feedback gives exactly the ranking the run's batch gives that subscriber,
    whether the examples come with the subscriber or as arguments."""
    settings = ScoringParams(chunk=2)
    me = _sub("me", liked=("liked:1",), disliked=("disliked:1",))
    others = [_sub("x"), _sub("y", liked=("p:a",)), me, _sub("z")]
    batched = rank_all(PAPERS, others, settings=settings, semantic=SEMANTIC)[2]
    alone = rank_with_feedback(PAPERS, me, SEMANTIC, settings=settings)
    given = rank_with_feedback(
        PAPERS, _sub("me"), SEMANTIC, liked=["liked:1"], disliked=["disliked:1"]
    )
    assert alone == batched
    assert given.items == batched.items


def test_examples_computed_per_block_equal_the_precomputed_table() -> None:
    """The scorer's similarities to examples are the same whether computed once for all
    examples or for each block's examples only (the path for very many distinct examples)."""
    subs = [
        _sub("a", liked=("liked:1", "p:c")),
        _sub("b"),
        _sub("c", disliked=("disliked:1",), liked=("p:far",)),
    ]
    index = build_index(PAPERS, subs, ScoringParams())
    vectors = np.stack([VECTORS[p.id] for p in index.papers])
    dense = Examples(subs, VECTORS, vectors, index.position)
    blocks = Examples(subs, VECTORS, vectors, index.position, dense_cells=0)
    assert dense.sims is not None and blocks.sims is None
    for kind in ("liked", "disliked"):
        for start, stop in ((0, 3), (0, 1), (1, 3), (1, 2)):
            a, b = dense.best(start, stop, kind), blocks.best(start, stop, kind)
            assert (a is None) == (b is None)
            if a is not None and b is not None:
                assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1])
