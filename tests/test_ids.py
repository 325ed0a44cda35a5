"""Canonical ids: every spelling of one arXiv paper is one id; fallbacks in order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from digest.ids import canonical_id, normalise_title, parse_arxiv_id

SPELLINGS = [
    "oai:arXiv.org:2509.11992v1",
    "https://arxiv.org/abs/2509.11992",
    "http://arxiv.org/abs/2509.11992v1",
    "2509.11992",
    "arXiv:2509.11992v3",
    "https://arxiv.org/pdf/2509.11992v2",
    "10.48550/arXiv.2509.11992",
]


def test_every_spelling_of_an_arxiv_id_is_one_paper() -> None:
    """RSS guid, abs links with and without version, HF's bare id and the arXiv DOI agree."""
    assert {parse_arxiv_id(s)[0] for s in SPELLINGS if parse_arxiv_id(s)} == {"2509.11992"}
    assert all(parse_arxiv_id(s) for s in SPELLINGS)


def test_versions_are_kept_apart_from_the_id() -> None:
    """The version is returned separately and is None when the spelling has none."""
    assert parse_arxiv_id("oai:arXiv.org:1312.4402v3") == ("1312.4402", 3)
    assert parse_arxiv_id("https://arxiv.org/abs/1312.4402") == ("1312.4402", None)


def test_old_style_ids_parse() -> None:
    """Old ids such as math/0605123v5 parse in guid, link and bare forms."""
    for text in (
        "math/0605123v5",
        "oai:arXiv.org:math/0605123v5",
        "https://arxiv.org/abs/math/0605123",
    ):
        assert parse_arxiv_id(text) is not None
        assert parse_arxiv_id(text)[0] == "math/0605123"  # type: ignore[index]


def test_text_that_only_contains_an_id_is_not_an_id() -> None:
    """Ids are recognised only as whole identifiers, never fished out of prose or other DOIs."""
    assert parse_arxiv_id("see 2509.11992 for details") is None
    assert parse_arxiv_id("10.1109/2509.11992") is None
    assert parse_arxiv_id("https://example.org/abs/2509.11992") is None


def test_fallback_order_doi_guid_link_title() -> None:
    """Without an arXiv id the DOI wins, then the guid, then the link, then a title hash."""
    assert canonical_id(doi="https://doi.org/10.1109/ICCV.2023.130", guid="g", link="l")[0] == (
        "doi:10.1109/iccv.2023.130"
    )
    assert canonical_id(guid="tag:x,2025:1", link="https://x/1")[0] == "guid:tag:x,2025:1"
    assert canonical_id(link="https://x/1")[0] == "link:https://x/1"
    a = canonical_id(title="Attention  Is All\nYou Need!")[0]
    b = canonical_id(title="attention is all you need")[0]
    assert a == b and a.startswith("title:")


@given(
    yymm=st.integers(min_value=701, max_value=3012).filter(lambda n: 1 <= n % 100 <= 12),
    seq=st.integers(min_value=1, max_value=99999),
    version=st.integers(min_value=1, max_value=30),
)
def test_any_new_style_id_round_trips_through_every_form(yymm: int, seq: int, version: int) -> None:
    """For any new-style id, the guid, abs URL, bare and versioned forms give one canonical id."""
    ident = f"{yymm:04d}.{seq:05d}"
    forms = [
        f"oai:arXiv.org:{ident}v{version}",
        f"https://arxiv.org/abs/{ident}",
        f"http://arxiv.org/abs/{ident}v{version}",
        ident,
    ]
    ids = {canonical_id(candidates=(f,))[0] for f in forms}
    assert ids == {f"arxiv:{ident}"}


@given(st.text(max_size=80))
def test_normalised_title_is_idempotent(title: str) -> None:
    """Normalising a normalised title changes nothing."""
    once = normalise_title(title)
    assert normalise_title(once) == once
