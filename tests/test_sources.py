"""Golden tests for the arXiv API and Hugging Face parsers, every malformed fixture, and the
merge of one paper seen by RSS, API and HF."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from digest.errors import SourceError, SourceReportedError
from digest.sources import arxiv, arxiv_api, feed, hf
from digest.store import Store
from tests.conftest import fixture_bytes

T0 = datetime(2025, 9, 16, 7, 30, tzinfo=UTC)


def _bare(ids: list[str]) -> list[str]:
    return [f"arxiv:{i.split('v')[0] if 'v' in i else i}" for i in ids]


@pytest.mark.parametrize("name", ["arxiv_api_query.xml", "arxiv_api_query_legacy.xml"])
def test_api_layouts_give_the_manifest_ids(name: str, manifest: dict[str, Any]) -> None:
    """Both the current and the legacy API layouts yield the manifest's ids in order."""
    listing = arxiv_api.parse(fixture_bytes(name), source="api")
    assert [p.id for p in listing.papers] == _bare(manifest[name]["ids_in_order"])
    assert len(listing.papers) == manifest[name]["entries"]


def test_api_fields_agree_between_layouts() -> None:
    """Titles (hard line breaks collapsed), authors, abstracts and categories (primary first)
    are the same in both layouts, and agree with the RSS listing's records."""
    current = {
        p.id: p for p in arxiv_api.parse(fixture_bytes("arxiv_api_query.xml"), source="a").papers
    }
    legacy = arxiv_api.parse(fixture_bytes("arxiv_api_query_legacy.xml"), source="a").papers
    rss = {p.id: p for p in feed.parse(fixture_bytes("arxiv_rss_cs_LG.xml"), source="r").papers}
    for old in legacy:
        new = current[old.id]
        assert (old.title, old.authors, old.abstract, old.categories, old.version) == (
            new.title,
            new.authors,
            new.abstract,
            new.categories,
            new.version,
        )
        assert "\n" not in new.title and "  " not in new.title
        assert new.title == rss[new.id].title
        assert new.authors == rss[new.id].authors
        assert new.link == f"https://arxiv.org/abs/{new.arxiv_id}"
    for paper in current.values():
        assert paper.categories[0] == rss[paper.id].categories[0]


def test_api_doi_and_journal_reference(manifest: dict[str, Any]) -> None:
    """Entries with a DOI or journal reference in the manifest carry them."""
    papers = {
        p.arxiv_id: p
        for p in arxiv_api.parse(fixture_bytes("arxiv_api_query.xml"), source="a").papers
    }
    with_doi = [i for i in manifest["edge_cases"]["with_doi"] if i in papers]
    assert with_doi and all(papers[i].doi and papers[i].doi.startswith("10.") for i in with_doi)
    with_ref = [i for i in manifest["edge_cases"]["with_journal_reference"] if i in papers]
    assert with_ref and all(papers[i].journal_ref for i in with_ref)


def test_api_error_entry_is_a_failure_not_a_paper() -> None:
    """The API's single 'Error' entry raises with the API's message."""
    with pytest.raises(SourceReportedError, match="incorrect id format"):
        arxiv_api.parse(fixture_bytes("malformed/api_error_entry.xml"), source="api")


def test_api_empty_result_is_empty() -> None:
    """totalResults 0 is an empty listing, not an error."""
    assert arxiv_api.parse(fixture_bytes("malformed/api_empty_result.xml"), source="a").papers == ()


def test_hf_daily_ids_and_fields(manifest: dict[str, Any]) -> None:
    """The daily papers JSON yields the manifest's ids; upvotes come from `paper`, comments from
    the outer object, optional links and AI summary when present, hard line breaks collapsed."""
    listing = hf.parse(fixture_bytes("hf_daily_papers.json"), source="hf")
    assert [p.id for p in listing.papers] == _bare(manifest["hf_daily_papers.json"]["ids_in_order"])
    by_id = {p.arxiv_id: p for p in listing.papers}
    top = by_id["2509.12164"]
    assert top.upvotes == 288 and top.comments is not None
    multi = by_id["2509.11992"]
    assert "\n" not in multi.title and "Estimation in Diffusion Models" in multi.title
    rss = {
        p.arxiv_id: p for p in feed.parse(fixture_bytes("arxiv_rss_cs_LG.xml"), source="r").papers
    }
    assert multi.title == rss["2509.11992"].title
    last = listing.papers[-1]
    assert (last.upvotes, last.comments, last.github, last.ai_summary) == (0, 0, None, None)
    assert any(p.github for p in listing.papers) and any(p.ai_summary for p in listing.papers)
    assert any(p.project_page for p in listing.papers)
    assert listing.batch is not None


def test_hf_hidden_authors_are_dropped() -> None:
    """Authors flagged hidden do not appear in the author list."""
    import json

    raw = json.loads(fixture_bytes("hf_daily_papers.json"))
    papers = hf.parse(fixture_bytes("hf_daily_papers.json"), source="hf").papers
    for item, paper in zip(raw, papers, strict=True):
        hidden = {a["name"] for a in item["paper"]["authors"] if a.get("hidden")}
        assert hidden.isdisjoint(paper.authors)
    assert any(a.get("hidden") for item in raw for a in item["paper"]["authors"])


def test_hf_html_page_skips_the_decoy(manifest: dict[str, Any]) -> None:
    """The papers page's DailyPapers hydration data is read, not the MainHeader decoy."""
    listing = hf.parse(fixture_bytes("hf_papers_listing.html"), source="hf")
    assert [p.id for p in listing.papers] == _bare(
        manifest["hf_papers_listing.html"]["ids_in_order"]
    )


def test_hf_wrong_types_are_tolerated_or_skipped() -> None:
    """A string upvote count is read, a string author list is split, a numeric id (which may
    have lost digits) falls back to the title, a null or missing paper uses the outer fields,
    and non-object elements are skipped."""
    papers = hf.parse(fixture_bytes("malformed/hf_wrong_types.json"), source="hf").papers
    assert len(papers) == 5
    first = papers[0]
    assert first.id == "arxiv:2509.12164" and first.upvotes == 42
    assert first.authors == ("Jane Doe", "John Roe")
    assert papers[1].id.startswith("title:")
    assert all(p.title for p in papers)


@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("malformed/hf_error_object.json", "Invalid date: 2025-13-45"),
        ("malformed/hf_truncated.json", "not valid JSON"),
        ("malformed/hf_html_instead_of_json.json", "HTML page"),
    ],
)
def test_hf_bad_bodies_fail_clearly(name: str, words: str) -> None:
    """An error object, a cut body and an HTML error page each fail with a message that says so."""
    with pytest.raises(SourceError, match=words):
        hf.parse(fixture_bytes(name), source="hf")


def test_hf_empty_weekend_is_empty() -> None:
    """An empty list (weekend) is an empty listing."""
    assert hf.parse(fixture_bytes("malformed/hf_empty_weekend.json"), source="hf").papers == ()


def test_endpoints() -> None:
    """Default endpoints: categories joined with '+', API query encoded, HF date and trending."""
    assert arxiv.endpoint(["cs.LG", "cs.CL"]) == "https://rss.arxiv.org/rss/cs.LG+cs.CL"
    url = arxiv_api.endpoint("cat:cs.LG AND abs:pruning", 25)
    assert url.startswith(
        "https://export.arxiv.org/api/query?search_query=cat%3Acs.LG+AND+abs%3Apruning"
    )
    assert "max_results=25" in url and "sortBy=submittedDate" in url
    assert hf.daily_endpoint(T0.date()) == "https://huggingface.co/api/daily_papers?date=2025-09-16"
    assert hf.trending_endpoint().endswith("?sort=trending")


def test_one_paper_across_rss_api_and_hf(tmp_path: Path, manifest: dict[str, Any]) -> None:
    """Ingesting RSS, then the API, then HF two days later stores each paper once; HF enriches
    the arXiv record with upvotes, code link and AI summary without counting it as new."""
    store = Store.sqlite(tmp_path / "s.db")
    rss = feed.parse(fixture_bytes("arxiv_rss_cs_LG.xml"), source="rss").papers
    api = arxiv_api.parse(fixture_bytes("arxiv_api_query.xml"), source="api").papers
    daily = hf.parse(fixture_bytes("hf_daily_papers.json"), source="hf").papers
    assert store.ingest(rss, source="rss", now=T0) == 46
    assert store.ingest(api, source="api", now=T0) == 0
    overlap = manifest["cross_source_overlap"]
    new_from_hf = store.ingest(daily, source="hf", now=T0 + timedelta(days=2))
    assert new_from_hf == len(daily) - len(overlap["rss_and_hf"])
    assert store.count_papers() == 46 + new_from_hf
    hf_record = {p.arxiv_id: p for p in daily}
    for ident in overlap["rss_and_hf"]:
        merged = store.paper(f"arxiv:{ident}")
        assert merged is not None
        assert merged.upvotes == hf_record[ident].upvotes
        assert merged.link == f"https://arxiv.org/abs/{ident}"
        assert merged.categories and merged.announce_type == "new"
        if hf_record[ident].github:
            assert merged.github == hf_record[ident].github
    _, (later,) = store.candidate_pools(
        ["x@y.org"], now=T0 + timedelta(days=2), lookback=timedelta(days=7)
    )
    assert len(set(later)) == len(later) == store.count_papers()
