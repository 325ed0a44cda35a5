"""Ranking: stemmed, phrase-aware keyword matching with reasons; title above abstract."""

from __future__ import annotations

from digest.models import Paper, Subscriber
from digest.rank import rank
from digest.text_match import stems


def _sub(*keywords: str) -> Subscriber:
    return Subscriber(name="S", email="s@example.org", keywords=keywords)


def test_stemming_matches_inflections() -> None:
    """'pruning', 'pruned' and 'prunes' share a stem; case and accents are folded."""
    assert stems("Pruning pruned PRUNES") == ["prune"] * 3
    assert stems("Café") == stems("cafe")


def test_phrase_matches_only_as_a_phrase() -> None:
    """A multi-word keyword needs its words adjacent and in order."""
    together = Paper(id="a", title="Graph neural networks for molecules")
    apart = Paper(id="b", title="Neural rendering of a graph of networks")
    ranked = rank([together, apart], _sub("graph neural networks"))
    assert [s.paper.id for s in ranked] == ["a"]
    assert ranked[0].reasons == ("graph neural networks",)


def test_title_match_outranks_abstract_match() -> None:
    """The same keyword in the title counts more than in the abstract."""
    in_title = Paper(id="b", title="Pruning at scale", abstract="We study sparsity.")
    in_abstract = Paper(id="a", title="Sparsity at scale", abstract="We study pruning.")
    ranked = rank([in_abstract, in_title], _sub("pruning"))
    assert [s.paper.id for s in ranked] == ["b", "a"]


def test_papers_matching_nothing_are_left_out() -> None:
    """A paper that matches none of the keywords is not ranked at all."""
    assert rank([Paper(id="a", title="Quantum chemistry")], _sub("pruning")) == []


def test_word_boundaries_are_respected() -> None:
    """'ReLU' does not match inside 'ReLUs-like' tokens of other words such as 'relumination'."""
    assert rank([Paper(id="a", title="Relumination of pruners")], _sub("relu")) == []
