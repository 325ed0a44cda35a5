"""Golden tests: the RSS/Atom parser against the fixture documents and their manifest."""

from __future__ import annotations

from typing import Any

import pytest

from digest.errors import SourceError, SourceReportedError
from digest.sources import feed
from tests.conftest import fixture_bytes


def _versioned(p: Any) -> str:
    ident = p.id.removeprefix("arxiv:")
    return f"{ident}v{p.version}" if p.version else ident


def test_arxiv_rss_ids_order_and_announce_types(manifest: dict[str, Any]) -> None:
    """The RSS listing yields the manifest's 46 versioned ids in order and its announce types."""
    listing = feed.parse(fixture_bytes("arxiv_rss_cs_LG.xml"), source="cs.LG")
    expected = manifest["arxiv_rss_cs_LG.xml"]
    assert [_versioned(p) for p in listing.papers] == expected["ids_in_order"]
    counts: dict[str, int] = {}
    for p in listing.papers:
        counts[p.announce_type or ""] = counts.get(p.announce_type or "", 0) + 1
    assert counts == expected["announce_types"]


def test_arxiv_rss_fields() -> None:
    """Abstract after 'Abstract: ', split creators with comma-bearing affiliations, categories
    primary first, DOI, LaTeX and escaped characters kept as text."""
    papers = {p.id: p for p in feed.parse(fixture_bytes("arxiv_rss_cs_LG.xml"), source="x").papers}
    first = papers["arxiv:2509.10579"]
    assert first.abstract.startswith("The input space of a neural network")
    assert "Announce Type" not in first.abstract
    assert first.link == "https://arxiv.org/abs/2509.10579"
    assert first.categories[0] == "cs.LG"
    many = papers["arxiv:2509.11523"]
    assert len(many.authors) == 45
    assert all("(" not in a and ")" not in a for p in papers.values() for a in p.authors)
    assert any("<600M MACs" in p.abstract for p in papers.values())
    assert any("PC&CG" in p.abstract for p in papers.values())
    assert any(
        "$\\mathcal{O}(1)$" in p.abstract or "$\\mathcal{O}(1)$" in p.title for p in papers.values()
    )
    assert "arxiv:math/0605123" in papers
    assert papers["arxiv:2509.11274"].doi is None or papers["arxiv:2509.11274"].doi.startswith(
        "10."
    )


def test_atom_listing_matches_rss() -> None:
    """The Atom listing carries the same papers, titles and abstracts as the RSS listing."""
    rss = feed.parse(fixture_bytes("arxiv_rss_cs_LG.xml"), source="x").papers
    atom = feed.parse(fixture_bytes("arxiv_atom_cs_LG.xml"), source="x").papers
    assert [(p.id, p.version, p.title, p.abstract, p.authors) for p in rss] == [
        (p.id, p.version, p.title, p.abstract, p.authors) for p in atom
    ]


def test_affiliation_commas_do_not_split_authors() -> None:
    """'Camille Dubois (ETH Zürich, Max Planck …)' stays one author."""
    papers = feed.parse(fixture_bytes("malformed/rss_missing_fields.xml"), source="x").papers
    absonly = next(p for p in papers if p.announce_type == "absonly")
    assert absonly.authors == ("Haruto Yılmaz", "Camille Dubois", "Kwame Mensah")


def test_missing_fields_are_tolerated() -> None:
    """No announce_type is inferred from the description; no creator, no prefix, empty title
    and missing link still give usable papers."""
    papers = {
        p.id: p
        for p in feed.parse(fixture_bytes("malformed/rss_missing_fields.xml"), source="x").papers
    }
    assert len(papers) == 6
    assert papers["arxiv:2509.11066"].announce_type == "new"
    assert papers["arxiv:2509.11106"].authors == ()
    assert papers["arxiv:2509.11172"].abstract.startswith("The network pruning algorithm")
    assert papers["arxiv:2509.11274"].title == "(untitled)"
    assert papers["arxiv:2509.11431"].link == "https://arxiv.org/abs/2509.11431"


def test_truncated_feed_is_a_failure_not_a_partial_listing() -> None:
    """A document cut mid-item fails instead of yielding its first 23 entries."""
    with pytest.raises(SourceError, match="not a complete RSS/Atom document"):
        feed.parse(fixture_bytes("malformed/rss_truncated.xml"), source="cs.LG")


def test_html_error_page_is_a_failure() -> None:
    """An HTML 503 page at the feed URL fails with a message naming the source."""
    with pytest.raises(SourceError, match=r"'cs\.LG'"):
        feed.parse(fixture_bytes("malformed/html_error_page.xml"), source="cs.LG")


def test_arxiv_feed_error_names_the_bad_category() -> None:
    """arXiv's normal-looking 'Feed error' document fails and names the bad subject class."""
    with pytest.raises(SourceReportedError, match=r"cs\.XY"):
        feed.parse(fixture_bytes("malformed/rss_error_bad_category.xml"), source="cs.XY")


def test_empty_weekend_feed_is_an_empty_listing() -> None:
    """A valid feed with no items is an empty listing (no batch), not an error."""
    listing = feed.parse(fixture_bytes("malformed/rss_empty_weekend.xml"), source="cs.LG")
    assert listing.papers == ()


def test_wrongly_declared_encoding_still_parses() -> None:
    """Latin-1 bytes declared as UTF-8 are a soft charset warning and still parse."""
    papers = feed.parse(fixture_bytes("malformed/rss_bad_encoding.xml"), source="x").papers
    assert len(papers) == 2
    assert any("café" in p.title or "café" in p.abstract for p in papers)


def test_duplicate_guids_share_one_id() -> None:
    """Entries repeating a guid map to the same canonical id (the store merges them)."""
    papers = feed.parse(fixture_bytes("malformed/rss_duplicate_guids.xml"), source="x").papers
    assert len(papers) == 6
    assert len({p.id for p in papers}) < 6


def test_generic_feed_strips_markup_and_decodes_entities_once() -> None:
    """A non-arXiv feed's HTML description becomes text; a script tag never survives."""
    body = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>
    <item><title>A &amp;lt;b&amp;gt; title</title><link>https://blog.example/p/1</link>
    <description>&lt;p&gt;Fish &amp;amp; chips&lt;/p&gt;&lt;script&gt;alert(1)&lt;/script&gt;</description>
    <author>x@example.org (Jane Roe)</author></item></channel></rss>"""
    (paper,) = feed.parse(body, source="blog").papers
    assert paper.id == "link:https://blog.example/p/1"
    assert paper.abstract == "Fish & chips"
    assert "<b>" in paper.title
