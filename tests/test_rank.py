"""Ranking: stemming, phrases, fields, filters, reasons, and properties of the batch ranker."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from digest.models import Paper, Subscriber
from digest.ranking.batch import build_index, rank, rank_all
from digest.ranking.index import KeywordTable, ScoringParams
from digest.ranking.keywords import derivational_pair, parse_keyword
from digest.ranking.text import stems


def _sub(*keywords: str, **extra: object) -> Subscriber:
    return Subscriber(name="S", email="s@example.org", keywords=keywords, **extra)  # type: ignore[arg-type]


def test_stemming_matches_inflections() -> None:
    """'pruning', 'pruned' and 'prunes' share a stem; case and accents are folded."""
    assert stems("Pruning pruned PRUNES") == ["prune"] * 3
    assert stems("Café") == stems("cafe")


def test_derivational_variants_pair_only_same_topic_words() -> None:
    """chemistry~chemical, seismology~seismic, molecules~molecular pair; latency~latent and
    generative~general do not."""
    pairs = [("chemistry", "chemical"), ("seismology", "seismic"), ("molecules", "molecular")]
    for a, b in pairs:
        assert derivational_pair(stems(a)[0], stems(b)[0]), (a, b)
    for a, b in [("latency", "latent"), ("generative", "general"), ("statistics", "static")]:
        assert not derivational_pair(stems(a)[0], stems(b)[0]), (a, b)


def test_variant_match_is_reported_under_the_keyword() -> None:
    """A paper about 'molecular' graphs matches the keyword 'molecules' and says so."""
    ranked = rank([Paper(id="a", title="Learning molecular fingerprints")], _sub("molecules"))
    assert [s.reasons for s in ranked] == [("molecules",)]


def test_quoted_phrase_matches_only_as_a_phrase() -> None:
    """A quoted keyword needs its words adjacent and in order."""
    together = Paper(id="a", title="Graph neural networks for molecules")
    apart = Paper(id="b", title="Neural rendering of a graph of networks")
    ranked = rank([together, apart], _sub('"graph neural networks"'))
    assert [s.paper.id for s in ranked] == ["a"]
    assert ranked[0].reasons == ("graph neural networks",)


def test_unquoted_phrase_prefers_adjacent_words() -> None:
    """An unquoted phrase also matches its words apart, but the adjacent phrase ranks first."""
    together = Paper(id="b", title="Graph neural networks for molecules")
    apart = Paper(id="a", title="Neural rendering of a graph of networks")
    ranked = rank([together, apart], _sub("graph neural networks"))
    assert [s.paper.id for s in ranked] == ["b", "a"]


def test_title_match_outranks_abstract_match() -> None:
    """The same keyword in the title counts more than in the abstract."""
    in_title = Paper(id="b", title="Pruning at scale", abstract="We study sparsity.")
    in_abstract = Paper(id="a", title="Sparsity at scale", abstract="We study pruning.")
    ranked = rank([in_abstract, in_title], _sub("pruning"))
    assert [s.paper.id for s in ranked] == ["b", "a"]


def test_repetition_saturates() -> None:
    """A word repeated ten times does not beat a paper matching two keywords once each."""
    spam = Paper(id="a", title="Networks", abstract="pruning " * 10)
    both = Paper(id="b", title="Networks", abstract="pruning and quantization of networks")
    filler = [
        Paper(id=f"z{i}", title=f"Other topic {i}", abstract="unrelated words") for i in range(8)
    ]
    ranked = rank([spam, both, *filler], _sub("pruning", "quantization"))
    assert [s.paper.id for s in ranked] == ["b", "a"]


def test_rare_terms_weigh_more_than_common_ones() -> None:
    """Matching a rare keyword beats matching one every paper mentions."""
    papers = [
        Paper(id=f"p{i}", title=f"A network study {i}", abstract="network network")
        for i in range(9)
    ]
    papers.append(Paper(id="rare", title="Spiking dynamics", abstract="spiking"))
    papers.append(Paper(id="common", title="Network network", abstract="network"))
    ranked = rank(papers, _sub("network", "spiking"))
    assert ranked[0].paper.id == "rare"


def test_papers_matching_nothing_are_left_out() -> None:
    """A paper that matches none of the keywords is not ranked at all."""
    assert rank([Paper(id="a", title="Quantum chemistry")], _sub("pruning")) == []


def test_exclude_drops_and_authors_always_included() -> None:
    """An excluded word drops a matching paper; a followed author's paper is included, first,
    and marked, even without a keyword match."""
    papers = [
        Paper(id="a", title="Pruning for medical images"),
        Paper(id="b", title="Pruning at scale"),
        Paper(id="c", title="Unrelated topic", authors=("Ada Lovelace",)),
    ]
    ranked = rank(papers, _sub("pruning", exclude=("medical",), authors=("ada lovelace",)))
    assert [s.paper.id for s in ranked] == ["c", "b"]
    assert ranked[0].reasons == ("author: ada lovelace",)


def test_categories_restrict_and_archive_covers_its_categories() -> None:
    """`categories` keeps only papers in them; 'cs' covers 'cs.LG'."""
    papers = [
        Paper(id="a", title="Pruning", categories=("cs.LG",)),
        Paper(id="b", title="Pruning", categories=("math.OC",)),
        Paper(id="c", title="Pruning"),
    ]
    assert [s.paper.id for s in rank(papers, _sub("pruning", categories=("cs.LG",)))] == ["a"]
    assert [s.paper.id for s in rank(papers, _sub("pruning", categories=("cs",)))] == ["a"]


def test_min_score_drops_weak_matches() -> None:
    """A min_score above every relevance score leaves nothing."""
    papers = [Paper(id="a", title="Pruning"), Paper(id="b", title="Other", abstract="pruning")]
    assert len(rank(papers, _sub("pruning"))) == 2
    assert rank(papers, _sub("pruning", min_score=1000.0)) == []


def test_popularity_breaks_near_ties_but_relevance_decides() -> None:
    """Upvotes lift an equally relevant paper, but not above a clearly more relevant one."""
    a = Paper(id="a", title="Pruning networks", upvotes=0)
    b = Paper(id="b", title="Pruning networks", upvotes=500)
    c = Paper(id="c", title="Pruning", abstract="pruning pruning networks pruning", upvotes=0)
    d = Paper(id="d", title="Other", abstract="about pruning", upvotes=1000)
    ids = [s.paper.id for s in rank([a, b, c, d], _sub("pruning"))]
    assert ids.index("b") < ids.index("a")
    assert ids[-1] == "d"


# -- properties -------------------------------------------------------------------------------

WORDS = [
    "graph",
    "neural",
    "network",
    "pruning",
    "sparse",
    "model",
    "diffusion",
    "policy",
    "data",
    "the",
]
texts = st.lists(st.sampled_from(WORDS), min_size=1, max_size=12).map(" ".join)
paper_lists = st.lists(
    st.builds(
        Paper,
        id=st.from_regex(r"p[0-9]{1,3}", fullmatch=True),
        title=texts,
        abstract=texts,
        upvotes=st.one_of(st.none(), st.integers(0, 500)),
    ),
    min_size=1,
    max_size=25,
    unique_by=lambda p: p.id,
)
keyword_lists = st.lists(
    st.one_of(
        st.sampled_from(WORDS),
        st.lists(st.sampled_from(WORDS), min_size=2, max_size=3).map(" ".join),
    ),
    min_size=1,
    max_size=4,
)
SMALL = dataclasses.replace(ScoringParams(), more_limit=5)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(papers=paper_lists, keywords=keyword_lists, cap=st.integers(1, 8))
def test_ranking_is_ordered_capped_explained_and_deterministic(
    papers: list[Paper], keywords: list[str], cap: int
) -> None:
    """Scores never increase down the list, the list holds at most max_papers + 2 * more_limit,
    every paper has a reason, and shuffling the input changes nothing."""
    sub = _sub(*keywords, max_papers=cap)
    ranked = rank(papers, sub, SMALL)
    scores = [s.score for s in ranked]
    assert scores == sorted(scores, reverse=True)
    assert len(ranked) <= cap + 2 * SMALL.more_limit
    assert all(s.reasons for s in ranked)
    assert rank(list(reversed(papers)), sub, SMALL) == ranked


@settings(max_examples=40, deadline=None)
@given(papers=paper_lists, keywords=keyword_lists, banned=st.sampled_from(WORDS))
def test_excluded_words_never_appear(papers: list[Paper], keywords: list[str], banned: str) -> None:
    """No ranked paper mentions an excluded word (stemmed)."""
    for s in rank(papers, _sub(*keywords, exclude=(banned,)), SMALL):
        assert stems(banned)[0] not in stems(s.paper.title + " " + s.paper.abstract)


@settings(max_examples=40, deadline=None)
@given(
    papers=paper_lists,
    words=st.lists(st.sampled_from(WORDS[:6]), min_size=2, max_size=3, unique=True),
)
def test_quoted_phrase_results_contain_the_phrase(papers: list[Paper], words: list[str]) -> None:
    """Every paper ranked for a quoted phrase contains it contiguously; the unquoted form
    ranks a superset."""
    phrase = " ".join(words)
    quoted = rank(papers, _sub(f'"{phrase}"'), SMALL)
    for s in quoted:
        text = " ".join(stems(s.paper.title)) + " | " + " ".join(stems(s.paper.abstract))
        assert " ".join(parse_keyword(phrase).stems) in text
    loose = {
        s.paper.id for s in rank(papers, _sub(phrase), dataclasses.replace(SMALL, more_limit=50))
    }
    assert {s.paper.id for s in quoted} <= loose


@settings(max_examples=30, deadline=None)
@given(papers=paper_lists, profiles=st.lists(keyword_lists, min_size=2, max_size=5))
def test_batch_ranking_equals_one_by_one(papers: list[Paper], profiles: list[list[str]]) -> None:
    """Ranking many subscribers in one batch gives each the list it would get alone."""
    subs = [
        Subscriber(name=f"s{i}", email=f"s{i}@x.org", keywords=tuple(k))
        for i, k in enumerate(profiles)
    ]
    batch = rank_all(papers, subs, settings=SMALL)
    for sub, ranking in zip(subs, batch, strict=True):
        alone = rank(papers, sub, SMALL)
        assert [(s.paper.id, s.reasons) for s in ranking.items] == [
            (s.paper.id, s.reasons) for s in alone
        ]
        # float32 sums in another keyword order may differ in the last digit
        assert [s.score for s in ranking.items] == pytest.approx([s.score for s in alone], rel=1e-5)


@settings(max_examples=30, deadline=None)
@given(papers=paper_lists, keywords=keyword_lists, data=st.data())
def test_candidates_restrict_each_subscriber(
    papers: list[Paper], keywords: list[str], data: st.DataObject
) -> None:
    """A subscriber limited to some candidate ids never gets another paper."""
    ids = [p.id for p in papers]
    allowed = data.draw(st.sets(st.sampled_from(ids)))
    sub = _sub(*keywords)
    (ranking,) = rank_all(papers, [sub], candidates=[allowed], settings=SMALL)
    assert {s.paper.id for s in ranking.items} <= allowed


def test_a_paper_with_some_words_of_a_keyword_ranks_below_and_says_partly() -> None:
    """A paper with only some words of a multi-word keyword is ranked below the whole match,
    labelled "partly: ...", and not counted as a match; excludes need the whole keyword."""
    whole = Paper(id="whole", title="Deep reinforcement learning for robots")
    part = Paper(id="part", title="Learning to rank search results")
    (ranking,) = rank_all([whole, part], [_sub("reinforcement learning")])
    assert [(s.paper.id, s.reasons) for s in ranking.items] == [
        ("whole", ("reinforcement learning",)),
        ("part", ("partly: reinforcement learning",)),
    ]
    assert ranking.matched == 1
    excluded = rank([whole, part], _sub("robots", "rank", exclude=("reinforcement learning",)))
    assert [s.paper.id for s in excluded] == ["part"]
    only_words = rank([part], _sub('"reinforcement learning"'))
    assert only_words == []


def test_a_common_word_alone_never_makes_a_multi_word_keyword_match() -> None:
    """Among 30 papers nearly all saying "AI", "explainable AI" matches the paper with both
    words and, partly, the one with "explainable", never those with only "AI"; with fewer
    papers than common_min_papers, or common_share 1, the old rule holds."""
    filler = [
        Paper(id=f"p{i}", title=f"AI for task {i}", abstract="An AI system.") for i in range(28)
    ]
    rare = Paper(id="rare", title="Explainable decisions", abstract="We study models.")
    whole = Paper(id="whole", title="Explainable AI in practice")
    (ranking,) = rank_all([*filler, rare, whole], [_sub("explainable AI")])
    assert [s.paper.id for s in ranking.items] == ["whole", "rare"]
    assert ranking.items[1].reasons == ("partly: explainable AI",)  # its rare word
    few = rank([*filler[:5], whole], _sub("explainable AI"))
    assert next(s.paper.id for s in few) == "whole" and len(few) == 6
    off = dataclasses.replace(ScoringParams(), common_share=1.0)
    assert len(rank([*filler, rare, whole], _sub("explainable AI"), off)) == 30


def test_whole_word_matching_is_available_as_a_knob() -> None:
    """With word_match = "all" (the previous rule) a partial paper is not ranked at all."""
    part = Paper(id="part", title="Learning to rank search results")
    params = dataclasses.replace(ScoringParams(), word_match="all")
    assert rank([part], _sub("reinforcement learning"), params) == []


@settings(max_examples=40, deadline=None)
@given(
    papers=paper_lists,
    keywords=st.lists(
        st.one_of(keyword_lists.map(" ".join), keyword_lists.map(lambda k: f'"{" ".join(k)}"')),
        min_size=1,
        max_size=9,
    ),
    block=st.integers(1, 4),
    normalise=st.booleans(),
)
def test_keyword_table_built_in_blocks_equals_the_whole_table(
    papers: list[Paper], keywords: list[str], block: int, normalise: bool
) -> None:
    """The dense keyword table built a few keywords at a time holds exactly the scores and
    match flags of the sparse table built at once."""
    settings_ = dataclasses.replace(SMALL, normalise=normalise)
    index = build_index(papers, [_sub(*keywords)], settings_)
    table = KeywordTable(index)
    for text in keywords:
        table.add_text(text)
    scores, matches, full = table.build()
    d_scores, d_matches, d_full = table.build_dense(block=block)
    assert np.array_equal(d_scores, scores.toarray())
    assert np.array_equal(d_matches, matches.toarray() > 0)
    assert np.array_equal(d_full, full.toarray() > 0)
