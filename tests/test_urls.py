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
