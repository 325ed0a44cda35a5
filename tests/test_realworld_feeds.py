"""Real-world feed quirks: legacy arXiv RSS 1.0, whitespace before the XML declaration,
relative and missing links, HTML and TeX in author names, CJK keywords, template errors."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from digest.mail.render import make_environment, render_digest
from digest.models import Digest, Paper, Scored, Subscriber
from digest.ranking.batch import rank
from digest.sources import arxiv, feed
from tests.cli_helpers import run_cli
from tests.conftest import DATA, LISTINGS, write_config

REAL = DATA / "realworld"


def test_legacy_arxiv_rss1_listing() -> None:
    """arXiv's RSS 1.0/RDF listing is recognised: the '(arXiv:ID [cat])' suffix leaves the
    title, UPDATED marks a replacement (dropped by default), HTML and TeX leave the authors."""
    listing = arxiv.parse((REAL / "arxiv_rdf_legacy.xml").read_bytes(), source="hep-ex")
    by_id = {p.id: p for p in listing.papers}
    first = by_id["arxiv:1805.08875"]
    assert first.title == "Search for dark photons in decays of the Higgs boson"
    assert first.authors == ("J. André", "B. øksendal")
    assert first.announce_type == "new" and first.version == 1
    assert "proton–proton collisions" in first.abstract and "<p>" not in first.abstract
    assert by_id["arxiv:1805.09012"].title == "Muon g-2 with cold muons"
    assert by_id["arxiv:1805.09012"].authors == ("P. Erdős",)
    assert by_id["arxiv:1709.01234"].announce_type == "replace"
    source = arxiv.ArxivSource(type="arxiv", name="hep-ex", categories=("hep-ex",))
    from digest.decide import is_news

    assert not is_news(by_id["arxiv:1709.01234"], source.announce_types)


def test_whitespace_before_the_declaration_keeps_entries_and_links_resolve() -> None:
    """Blank lines before <?xml are a warning, not a broken feed; a relative link resolves
    against xml:base; an entry without a link gets none (not an empty href); HTML leaves
    author names."""
    listing = feed.parse((REAL / "lab_blog_relative.xml").read_bytes(), source="lab")
    first, second = listing.papers
    assert first.link == "https://lab.example/blog/sparse-training"
    assert first.authors == ("Ada Lovelace",)
    assert second.link == ""


def test_a_truncated_document_still_adds_nothing() -> None:
    """Cutting a feed in half is an error even though some entries parsed."""
    from digest.errors import SourceError

    body = (LISTINGS / "day1.xml").read_bytes()
    with pytest.raises(SourceError, match="not a complete"):
        feed.parse(body[: len(body) // 2], source="cut")


def test_relative_links_resolve_against_the_fetched_url() -> None:
    """Without xml:base, relative links resolve against the URL the feed came from."""
    body = b"""<rss version="2.0"><channel><title>t</title>
    <item><title>One</title><link>posts/1.html</link><guid isPermaLink="false">1</guid></item>
    </channel></rss>"""
    (paper,) = feed.parse(body, source="s", base="https://blog.example/news/feed.xml").papers
    assert paper.link == "https://blog.example/news/posts/1.html"


def test_tex_accents_render_as_letters_and_unlinked_titles_stay_plain() -> None:
    """Authors and abstracts with TeX accents show the letters in both parts; a paper with no
    safe link is a plain title, never an empty href."""
    paper = Paper(
        id="guid:x",
        title="R\\'{e}nyi divergences",
        link="javascript:alert(1)",
        authors=("Andr\\'e Weil", "{\\o}ystein Ore"),
        abstract='Schr\\"odinger and Erd\\H{o}s.',
    )
    sub = Subscriber(name="S", email="s@example.org", keywords=("divergence",))
    digest = Digest(
        subscriber=sub, day=date(2025, 9, 15), papers=(Scored(paper, 1.0, ("divergence",)),)
    )
    rendered = render_digest(digest, make_environment())
    for part in (rendered.html, rendered.text):
        assert "André Weil" in part and "øystein Ore" in part
        assert "Rényi" in part and "Schrödinger and Erdős" in part
        assert "\\'" not in part
    assert 'href=""' not in rendered.html and "javascript" not in rendered.html


def test_cjk_keywords_match() -> None:
    """Keywords written without spaces (Chinese, Japanese) match through character bigrams."""
    papers = [
        Paper(id="zh", title="基于深度学习的图像识别"),
        Paper(id="ja", title="画像認識のための深層学習"),
        Paper(id="en", title="Deep learning for vision"),
    ]
    assert [
        s.paper.id
        for s in rank(papers, Subscriber(name="z", email="z@x.org", keywords=("深度学习",)))
    ] == ["zh"]
    assert [
        s.paper.id
        for s in rank(papers, Subscriber(name="j", email="j@x.org", keywords=('"画像認識"',)))
    ] == ["ja"]


def test_a_template_error_names_the_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken user template fails each digest with the template file and line, exit 1."""
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "digest.html").write_text(
        '{% extends "base.html" %}\n{% block content %}\n{{ digest.nope.x }}\n{% endblock %}\n'
    )
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=[{"name": "Ada", "email": "ada@example.org", "keywords": ["network"]}],
    )
    config.write_text(
        config.read_text().replace('outbox = "outbox"', 'outbox = "outbox"\ntemplates = "mine"')
    )
    result = run_cli(capsys, "run", "--dry-run", "--config", config)
    assert result.code == 1
    assert f"template error in {mine / 'digest.html'} line 3" in result.out
