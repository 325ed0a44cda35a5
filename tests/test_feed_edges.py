"""Feeds at the edges: XML errors feedparser recovers from, undeclared encodings, HTTP
headers, query strings that look like entities, base64 titles and JSON Feed; each document
in tests/data/feeds/ with the papers it must give."""

from __future__ import annotations

from email import message_from_bytes, policy
from pathlib import Path

import pytest

from digest.decide import decide
from digest.errors import SourceError
from digest.fetch import Fetcher
from digest.models import FeedState
from digest.sources import feed
from digest.sources.base import Listing
from digest.sources.feed import FeedSource
from tests.cli_helpers import run_cli
from tests.conftest import DATA, write_config
from tests.servers import HttpServer, Reply

FEEDS = DATA / "feeds"
MOJIBAKE = ("Ã", "â€", "\ufffd", "Ð", "ã\x81")

# What each document must give: (title, link, authors) per paper, in document order.
EXPECTED: dict[str, list[tuple[str, str, tuple[str, ...]]]] = {
    "undefined_entity.xml": [
        (
            "Pruning at initialisation, revisited",
            "https://sparselab.example/notes/pruning-at-init",
            ("Ada Lovelace",),
        ),
        (
            "Café talks: lottery tickets in vision transformers",
            "https://sparselab.example/notes/lottery-vit",
            ("Alan Turing",),
        ),
        (
            "Structured sparsity for speech models",
            "https://sparselab.example/notes/speech-sparsity",
            ("Grace Hopper",),
        ),
    ],
    "bare_ampersand.xml": [
        (
            "Fish & Chips: a benchmark for tabular learning",
            "https://rnd.example/papers?id=7&lang=en",
            ("Jane Roe",),
        ),
        ("Q&A over scientific tables", "https://rnd.example/papers?id=8&lang=en", ("John Doe",)),
    ],
    "windows1251_undeclared.xml": [
        (
            "Обучение разреженных нейронных сетей без потери точности",
            "https://ml.example.ru/zametki/razrezhennye-seti",
            ("Иван Петров",),
        ),
        (
            "Трансформеры для распознавания речи: обзор",
            "https://ml.example.ru/zametki/transformery-rech",
            ("Мария Сидорова",),
        ),
    ],
    "shift_jis_undeclared.xml": [
        (
            "スパースなニューラルネットワークの効率的な学習",
            "https://ml.example.jp/ronbun/sparse",
            ("山田太郎",),
        ),
        (
            "画像認識のための深層学習の新しい手法",
            "https://ml.example.jp/ronbun/gazou",
            ("佐藤花子",),
        ),
    ],
    "query_links.xml": [
        ("Regional results", "https://conf.example/paper?id=1&region=eu", ()),
        ("Copies and reprints", "https://conf.example/paper?id=2&copy=2&not=3", ()),
        ("Double-encoded by its generator", "https://conf.example/paper?id=3&lang=en", ()),
        ("A scheme hidden behind references", "", ()),
    ],
    "atom03_base64.xml": [
        (
            "Sparse training in Zürich: what it costs",
            "https://archive.example/sparse-training",
            ("Ada Lovelace",),
        ),
    ],
    "jsonfeed_1_1.json": [
        (
            "Distilling a 7B model into 300M parameters",
            "https://tiny.example/p/distillation?ref=feed&region=eu",
            ("Jérôme Lefèvre", "Amara Okafor"),
        ),
        (
            "Quantisation-aware training, explained",
            "https://arxiv.org/abs/2509.11992",
            ("The Tiny Models team",),
        ),
        ("Pruning notes", "https://tiny.example/p/pruning-notes", ("The Tiny Models team",)),
    ],
    "jsonfeed_1_0.json": [
        (
            "Kernel methods are back",
            "https://oldschool.example/2025/09/kernels",
            ("Bernhard Kernel",),
        ),
        ("Support vectors & friends", "https://oldschool.example/2025/09/svm", ("Feed Owner",)),
    ],
}


def _papers(listing: Listing) -> list[tuple[str, str, tuple[str, ...]]]:
    return [(p.title, p.link, p.authors) for p in listing.papers]


def _no_mojibake(listing: Listing) -> None:
    for p in listing.papers:
        for text in (p.title, p.abstract, *p.authors):
            assert not any(bad in text for bad in MOJIBAKE), text


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_document_gives_its_expected_papers(name: str) -> None:
    """Every document in tests/data/feeds read from disk gives exactly its expected titles,
    links and authors, with no mojibake anywhere."""
    listing = feed.parse((FEEDS / name).read_bytes(), source="edge")
    assert _papers(listing) == EXPECTED[name]
    _no_mojibake(listing)


@pytest.mark.parametrize(
    ("name", "note"),
    [
        ("undefined_entity.xml", "undefined entity, line 14"),
        ("bare_ampersand.xml", "not well-formed (invalid token), line 3"),
        ("query_links.xml", None),
    ],
)
def test_a_recovered_xml_error_is_named_with_its_line(name: str, note: str | None) -> None:
    """An undefined entity or a bare '&' in a document whose root is closed keeps every item
    and names the error and its line in the document as served; a clean document has no note."""
    listing = feed.parse((FEEDS / name).read_bytes(), source="edge")
    assert listing.recovered == note


def test_recovered_text_is_exact_not_approximate() -> None:
    """The items of a repaired document read as a strict parser reads them: '&nbsp;' is a
    space, '&hellip;' an ellipsis, 'R&D' stays 'R&D' (not the lenient parser's 'R&D;')."""
    entity = feed.parse((FEEDS / "undefined_entity.xml").read_bytes(), source="edge")
    assert entity.papers[0].abstract.startswith("Which masks survive training")
    assert "too… if you look" in entity.papers[1].abstract
    amp = feed.parse((FEEDS / "bare_ampersand.xml").read_bytes(), source="edge")
    assert amp.title == "R&D papers"
    assert amp.papers[0].abstract == "Tabular data & trees, again."


def test_blank_lines_before_the_declaration_count_in_the_line_named() -> None:
    """The line in the note is the line in the document as it came, blank lines included."""
    body = b"\n\n" + (FEEDS / "undefined_entity.xml").read_bytes()
    assert feed.parse(body, source="edge").recovered == "undefined entity, line 16"


def test_references_to_forbidden_characters_are_dropped_and_the_rest_kept() -> None:
    """'&#0;' in a title is a recovered error: the item keeps its title, and its arXiv DOI
    and journal reference (which the lenient parser loses) survive the strict re-read."""
    listing = feed.parse((FEEDS / "invalid_reference.xml").read_bytes(), source="edge")
    assert listing.recovered == "reference to invalid character number, line 6"
    (paper,) = listing.papers
    assert paper.title == "Invalid character references"
    assert (paper.doi, paper.journal_ref) == ("10.48550/arxiv.2509.12239", "J. Lab 1 (2025)")


def test_what_only_the_lenient_parser_reads_never_breaks_the_parser() -> None:
    """A mismatched tag leaves feedparser's lenient result, in which namespaced elements can
    be dicts instead of text: the item still becomes a paper, no TypeError."""
    body = (FEEDS / "invalid_reference.xml").read_bytes().replace(b"<link>", b"<b><link>", 1)
    listing = feed.parse(body, source="edge")
    assert listing.recovered == "reference to invalid character number, line 6"  # the first
    (paper,) = listing.papers
    assert paper.link == "https://lab.example/p/1" and paper.doi is None


def test_a_truncated_document_with_the_same_error_adds_nothing() -> None:
    """The same document cut short (its root never closed) is refused whole, even though
    the lenient parser found all three items in it."""
    with pytest.raises(SourceError, match="not a complete RSS/Atom document"):
        feed.parse((FEEDS / "truncated_entity.xml").read_bytes(), source="edge")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ((FEEDS / "html_page.html").read_bytes(), "'edge': an HTML page, not a feed"),
        (
            (FEEDS / "json_error.json").read_bytes(),
            "a JSON document, not a JSON Feed (no version; it says 'rate limited",
        ),
        (b'{"version": "1.1", "items": []}', "not a JSON Feed (version '1.1')"),
        (b"[1, 2]", "a JSON list, not a JSON Feed"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": [', "not valid JSON"),
        (b"", "an empty response, not a feed"),
        (b"  \n", "an empty response, not a feed"),
        (b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"/>', "root is <svg>"),
        (b"Service temporarily unavailable", "a text document, not a feed"),
    ],
)
def test_a_document_that_is_no_feed_is_refused_by_what_it_is(body: bytes, words: str) -> None:
    """An HTML page, a JSON error body, JSON that is no JSON Feed, a cut JSON Feed, an empty
    body, another XML vocabulary or plain text each fail with a message naming what it is."""
    with pytest.raises(SourceError) as caught:
        feed.parse(body, source="edge")
    assert words in str(caught.value)


def test_undeclared_shift_jis_keeps_windows_symbols() -> None:
    """Characters only Windows' Shift_JIS has (circled digits) come through as a browser
    shows them."""
    listing = feed.parse((FEEDS / "shift_jis_undeclared.xml").read_bytes(), source="edge")
    assert "①画像認識と②音声認識" in listing.papers[0].abstract


def test_an_entity_hidden_scheme_never_becomes_a_link_even_with_a_base() -> None:
    """With a web base to resolve against, a '&#106;avascript:' link still yields no
    javascript: URL: every link that survives is http(s)."""
    listing = feed.parse(
        (FEEDS / "query_links.xml").read_bytes(), source="edge", base="https://conf.example/feed"
    )
    assert all(p.link.startswith("https://") for p in listing.papers if p.link)
    assert not any(p.link.lower().startswith("javascript") for p in listing.papers)


def test_json_feed_fields() -> None:
    """A JSON Feed 1.1 gives dates, HTML content as text (scripts dropped), tags as
    categories; items that are not objects or carry nothing are skipped."""
    listing = feed.parse((FEEDS / "jsonfeed_1_1.json").read_bytes(), source="json")
    assert listing.title == "Tiny Models Weekly"
    first, second, third = listing.papers
    assert (
        first.abstract == "We distil a 7B teacher into a 300M student & keep 92% of its accuracy."
    )
    assert first.categories == ("distillation", "efficiency")
    assert (
        first.published is not None and first.published.isoformat() == "2025-09-16T06:00:00+00:00"
    )
    assert second.published is not None and second.published.hour == 4  # +02:00 as UTC
    assert second.id == "arxiv:2509.11992"
    assert third.id == "guid:tiny-3" and third.published is None
    assert listing.batch == first.published


def test_json_feed_1_0() -> None:
    """A JSON Feed 1.0: `author` objects, a numeric id, and a javascript: url that falls back
    to external_url."""
    listing = feed.parse((FEEDS / "jsonfeed_1_0.json").read_bytes(), source="json")
    assert [p.id for p in listing.papers] == ["guid:1001", "guid:1002"]
    assert listing.papers[0].abstract == "Why random features still matter in 2025."


def test_a_base64_title_is_decoded_exactly_once() -> None:
    """An Atom 0.3 title and content in mode="base64" arrive decoded once: neither still
    base64 nor decoded a second time."""
    (paper,) = feed.parse((FEEDS / "atom03_base64.xml").read_bytes(), source="edge").papers
    assert paper.title == "Sparse training in Zürich: what it costs"
    assert paper.abstract == "We measure the real cost of sparse training."


async def _fetch_and_parse(server: HttpServer, path: str) -> Listing:
    """Fetch `path` from the loopback server and decide on it as a run does."""
    source = FeedSource(type="feed", name="edge", url=server.url(path))
    async with Fetcher(retries=0) as fetcher:
        fetched = await fetcher.fetch(server.url(path), source="edge")
    decision = decide(source, fetched, FeedState(), location=server.url(path))
    assert decision.status == "ok", decision.error
    return source.parse(fetched.body, fetched.url, fetched.headers)


# (document, Content-Type the server sends or None), each served on a path of its own by one
# server: the loopback server takes half a second to stop, so the cases share it.
ENCODINGS = [
    ("windows1251_undeclared.xml", None),
    ("windows1251_undeclared.xml", "application/rss+xml"),
    ("windows1251_undeclared.xml", "text/xml"),
    ("windows1251_undeclared.xml", "application/rss+xml; charset=windows-1251"),
    ("windows1251_undeclared.xml", "text/xml; charset=Windows-1251"),
    ("shift_jis_undeclared.xml", None),
    ("shift_jis_undeclared.xml", "application/xml"),
    ("shift_jis_undeclared.xml", "application/rss+xml; charset=Shift_JIS"),
    ("shift_jis_undeclared.xml", 'text/xml; charset="shift_jis"'),
]


async def test_undeclared_encodings_over_http(http_server: HttpServer) -> None:
    """A windows-1251 or Shift_JIS document without a declaration reads right over HTTP,
    with the charset in Content-Type and without it (then detected)."""
    for number, (name, content_type) in enumerate(ENCODINGS):
        headers = {"Content-Type": content_type} if content_type else {}
        http_server.routes[f"/{number}"] = Reply((FEEDS / name).read_bytes(), headers=headers)
    for number, (name, content_type) in enumerate(ENCODINGS):
        listing = await _fetch_and_parse(http_server, f"/{number}")
        assert _papers(listing) == EXPECTED[name], (name, content_type)
        _no_mojibake(listing)


async def test_the_http_charset_wins_over_the_document_declaration(
    http_server: HttpServer,
) -> None:
    """A windows-1251 document that wrongly declares ISO-8859-1 reads right when the server
    says windows-1251 (RFC 7303: the charset parameter is authoritative)."""
    body = (FEEDS / "windows1251_undeclared.xml").read_bytes()
    body = b'<?xml version="1.0" encoding="ISO-8859-1"?>\n' + body
    http_server.routes["/feed"] = Reply(
        body, headers={"Content-Type": "application/rss+xml; charset=windows-1251"}
    )
    listing = await _fetch_and_parse(http_server, "/feed")
    assert _papers(listing) == EXPECTED["windows1251_undeclared.xml"]


async def test_relative_links_resolve_against_content_location(http_server: HttpServer) -> None:
    """Relative links resolve against the Content-Location the server sends (itself resolved
    against the URL fetched), else against the URL fetched."""
    server = http_server.url("")
    cases = {
        "https://group.example/blog/feed.xml": [
            "https://group.example/blog/posts/attention-compression.html",
            "https://group.example/reading-group/2025-09-16?week=38&room=b",
        ],
        "/mirror/blog/feed.xml": [
            f"{server}/mirror/blog/posts/attention-compression.html",
            f"{server}/reading-group/2025-09-16?week=38&room=b",
        ],
        "": [
            f"{server}/feeds/2/posts/attention-compression.html",
            f"{server}/reading-group/2025-09-16?week=38&room=b",
        ],
    }
    body = (FEEDS / "relative_links.xml").read_bytes()
    for number, location in enumerate(cases):
        headers = {"Content-Type": "application/rss+xml"}
        if location:
            headers["Content-Location"] = location
        http_server.routes[f"/feeds/{number}/group.xml"] = Reply(body, headers=headers)
    for number, (location, links) in enumerate(cases.items()):
        listing = await _fetch_and_parse(http_server, f"/feeds/{number}/group.xml")
        assert [p.link for p in listing.papers] == links, location


async def test_a_json_feed_served_as_feed_json(http_server: HttpServer) -> None:
    """A JSON Feed served as application/feed+json is read by a `feed` source; a relative
    item URL resolves against the URL it was fetched from, as in RSS/Atom."""
    http_server.routes["/feed.json"] = Reply(
        (FEEDS / "jsonfeed_1_1.json").read_bytes(),
        headers={"Content-Type": "application/feed+json"},
    )
    listing = await _fetch_and_parse(http_server, "/feed.json")
    expected = EXPECTED["jsonfeed_1_1.json"]
    assert _papers(listing)[:2] == expected[:2]
    assert listing.papers[2].link == http_server.url("/p/pruning-notes")


def test_a_dry_run_reports_the_recovered_error_and_mails_the_papers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`digest run --once --dry-run` on a feed with an undefined entity says 'recovered:' on
    the source's line and writes its papers into the .eml."""
    config = write_config(
        tmp_path,
        sources=[("sparselab", str(FEEDS / "undefined_entity.xml"))],
        subscribers=[
            {"name": "Ada", "email": "ada@example.org", "keywords": ["sparsity", "pruning"]}
        ],
    )
    result = run_cli(
        capsys, "run", "--once", "--dry-run", "--config", config, "--now", "2025-09-16T07:30:00Z"
    )
    assert result.code == 0, result.out + result.err
    (line,) = [x for x in result.out.splitlines() if "sparselab:" in x]
    assert line.split()[0] == "ok"
    assert line.endswith("3 papers, 3 new (recovered: undefined entity, line 14)")
    (eml,) = (tmp_path / "outbox").glob("*.eml")
    message = message_from_bytes(eml.read_bytes(), policy=policy.default)
    html_part = message.get_body(("html",))
    assert html_part is not None
    html = str(html_part.get_content())
    assert "https://sparselab.example/notes/pruning-at-init" in html
    assert "https://sparselab.example/notes/speech-sparsity" in html
    assert "Structured sparsity for speech models" in html
    assert "Ada Lovelace" in html
