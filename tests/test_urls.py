"""Only http(s) (and mailto where allowed) ever becomes a link; relative links resolve."""

from __future__ import annotations

import pytest

from digest.urls import web_url

HOSTILE = [
    "javascript:alert(1)",
    "JaVaScRiPt:alert(1)",
    " \tjavascript:alert(1)",
    "java\nscript:alert(1)",
    "java&#x09;script:alert(1)",
    "&#106;avascript:alert(1)",
    "&amp;#106;avascript:alert(1)",
    "data:text/html;base64,PHNjcmlwdD4=",
    "DATA:text/html,<b>x</b>",
    "vbscript:msgbox(1)",
    "file:///etc/passwd",
    "ftp://example.org/x",
    "http:///nohost",
    "//evil.example/x",
    "http://[not-an-address/x",
    "https://[::1/",
    "",
    None,
    42,
]


@pytest.mark.parametrize("value", HOSTILE)
def test_only_web_urls_survive(value: object) -> None:
    """Every non-http(s) scheme, in any case or disguise, is refused (no base to resolve)."""
    assert web_url(value) is None


@pytest.mark.parametrize(
    ("value", "base", "expected"),
    [
        ("https://arxiv.org/abs/2509.11992", "", "https://arxiv.org/abs/2509.11992"),
        ("  HTTP://Example.org/a?b=1&amp;c=2 ", "", "HTTP://Example.org/a?b=1&c=2"),
        ("/blog/post-1", "https://lab.example/feed.xml", "https://lab.example/blog/post-1"),
        ("post-2", "https://lab.example/blog/", "https://lab.example/blog/post-2"),
        ("//cdn.example/x", "https://lab.example/", "https://cdn.example/x"),
        ("/blog/x", "file:///tmp/feed.xml", None),
        ("javascript:alert(1)", "https://lab.example/", None),
    ],
)
def test_relative_links_resolve_against_a_web_base(
    value: str, base: str, expected: str | None
) -> None:
    """A relative link resolves against an http(s) base; a local-file base resolves nothing."""
    assert web_url(value, base) == expected


def test_mailto_only_where_allowed() -> None:
    """mailto: passes only when the caller lists it."""
    assert web_url("mailto:leave@example.org") is None
    assert (
        web_url("mailto:leave@example.org", schemes=("http", "https", "mailto"))
        == "mailto:leave@example.org"
    )


@pytest.mark.parametrize(
    "value",
    [
        "https://example.org/p?id=1&region=eu",
        "https://example.org/p?a=1&copy=2",
        "https://example.org/p?a=1&not=3",
        "https://example.org/p?a=1&reg&lang=en&para=4&sect=5",
    ],
)
def test_a_query_string_that_looks_like_entities_survives(value: str) -> None:
    """'&region=', '&copy=', '&not=' are parameters, not HTML entities: the link comes back
    as it was given, not as '®ion=', '©=' or '¬='."""
    assert web_url(value) == value
    assert web_url(value.removeprefix("https://example.org"), "https://example.org/f") == value


def test_a_double_encoded_link_is_decoded_once_more_only() -> None:
    """A reference a double-encoding feed left ('&amp;') is decoded once; what that leaves
    is kept as it is."""
    assert web_url("https://example.org/p?a=1&amp;b=2") == "https://example.org/p?a=1&b=2"
    assert web_url("https://example.org/p?a=1&amp;amp;b=2") == "https://example.org/p?a=1&amp;b=2"


@pytest.mark.parametrize(
    "value",
    ["&#106;avascript:alert(1)", "&amp;#106;avascript:alert(1)", "&#x6A;avascript:alert(1)"],
)
def test_an_entity_hidden_scheme_is_refused_even_with_a_base(value: str) -> None:
    """A scheme hidden behind one or two layers of references is refused, also where a base
    would otherwise make the text a relative link."""
    assert web_url(value, "https://lab.example/feed.xml") is None
