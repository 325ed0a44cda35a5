"""Fetching over real HTTP: conditional GET on the wire, 304, size cap, retries, pacing."""

from __future__ import annotations

import pytest

from digest.errors import SourceError
from digest.fetch import Fetcher
from tests.servers import HttpServer, Reply
from tests.virtual_clock import VirtualClock


async def test_conditional_get_sends_validators_and_handles_304(http_server: HttpServer) -> None:
    """The stored ETag and Last-Modified go out as If-None-Match / If-Modified-Since, and a
    304 comes back as 'not-modified' with no body."""
    lm = "Tue, 16 Sep 2025 04:00:00 GMT"
    http_server.routes["/f"] = Reply(b"<rss/>", headers={"ETag": '"v1"', "Last-Modified": lm})
    async with Fetcher(contact="ops@example.org") as f:
        first = await f.fetch(http_server.url("/f"))
        assert (first.status, first.etag, first.last_modified) == ("ok", '"v1"', lm)
        second = await f.fetch(http_server.url("/f"), etag=first.etag, last_modified=lm)
    assert second.status == "not-modified" and second.body == b""
    sent = http_server.hits("/f")[1].headers
    assert sent["if-none-match"] == '"v1"' and sent["if-modified-since"] == lm
    assert "ops@example.org" in sent["user-agent"] and "PaperDigest/" in sent["user-agent"]


async def test_body_over_the_cap_is_a_source_failure(http_server: HttpServer) -> None:
    """A body larger than max_bytes fails cleanly, declared or streamed."""
    http_server.routes["/big"] = Reply(b"x" * 5000)
    async with Fetcher(max_bytes=4096) as f:
        with pytest.raises(SourceError, match="4096-byte limit"):
            await f.fetch(http_server.url("/big"), source="big")


async def test_retries_on_503_honour_retry_after(http_server: HttpServer) -> None:
    """A 503 then a 200 is retried after the server's Retry-After and succeeds."""
    http_server.routes["/flaky"] = [
        Reply(b"busy", status=503, headers={"Retry-After": "1"}),
        Reply(b"<rss/>"),
    ]
    async with Fetcher(backoff=0.01) as f:
        result = await f.fetch(http_server.url("/flaky"))
    assert result.status == "ok" and result.body == b"<rss/>"
    a, b = http_server.hits("/flaky")
    assert b.at - a.at >= 0.9


async def test_gives_up_after_the_retry_budget(http_server: HttpServer) -> None:
    """Persistent 429s end with the last status returned after retries+1 attempts."""
    http_server.routes["/busy"] = Reply(b"slow down", status=429)
    async with Fetcher(retries=2, backoff=0.01) as f:
        result = await f.fetch(http_server.url("/busy"))
    assert result.http_status == 429
    assert len(http_server.hits("/busy")) == 3


async def test_requests_to_a_paced_host_are_spaced(http_server: HttpServer) -> None:
    """Requests to a host with a politeness interval wait that long between them (asked of
    the sleep seam on a virtual clock), and all of them reach the server."""
    http_server.routes["/p"] = Reply(b"ok")
    clock = VirtualClock()
    async with Fetcher(host_intervals={"127.0.0.1": 0.5}, clock=clock, sleep=clock.sleep) as f:
        for _ in range(3):
            await f.fetch(http_server.url("/p"))
    assert len(http_server.hits("/p")) == 3
    assert all(wait >= 0.45 for wait in clock.slept) and len(clock.slept) == 2


async def test_timeout_is_a_source_failure(http_server: HttpServer) -> None:
    """A server slower than the timeout gives a SourceError saying it timed out."""
    http_server.routes["/slow"] = Reply(b"late", delay=1.5)
    async with Fetcher(timeout=0.3, retries=0) as f:
        with pytest.raises(SourceError, match="timed out"):
            await f.fetch(http_server.url("/slow"), source="slow")


async def test_redirects_are_followed(http_server: HttpServer) -> None:
    """A 301 to another path is followed and the final URL is reported."""
    http_server.routes["/old"] = Reply(b"", status=301, headers={"Location": "/new"})
    http_server.routes["/new"] = Reply(b"<rss/>")
    async with Fetcher() as f:
        result = await f.fetch(http_server.url("/old"))
    assert result.body == b"<rss/>" and result.url.endswith("/new")


async def test_a_fetch_keeps_the_headers_a_parser_reads_and_no_others(
    http_server: HttpServer,
) -> None:
    """Content-Type, Content-Location and Content-Language of the final response reach the
    parser (lower-case names); cookies and the rest of the response do not."""
    http_server.routes["/old"] = Reply(
        b"", status=302, headers={"Location": "/f", "Content-Type": "text/html"}
    )
    http_server.routes["/f"] = Reply(
        b"<rss/>",
        headers={
            "Content-Type": "application/rss+xml; charset=windows-1251",
            "Content-Location": "/feeds/main.xml",
            "Content-Language": "ru",
            "Set-Cookie": "session=secret",
            "X-Powered-By": "feeds",
        },
    )
    async with Fetcher() as f:
        result = await f.fetch(http_server.url("/old"))
    assert dict(result.headers) == {
        "content-type": "application/rss+xml; charset=windows-1251",
        "content-location": "/feeds/main.xml",
        "content-language": "ru",
    }


async def test_local_paths_and_file_urls_read_the_same_bytes(
    tmp_path: pytest.TempPathFactory,
) -> None:
    """A local path and its file:// URL are sources like any other, with an mtime validator
    that makes an unchanged file 'not-modified'."""
    from pathlib import Path

    path = Path(str(tmp_path)) / "feed.xml"
    path.write_bytes(b"<rss/>")
    async with Fetcher() as f:
        a = await f.fetch(str(path))
        b = await f.fetch(path.as_uri())
        c = await f.fetch(str(path), last_modified=a.last_modified)
    assert a.body == b.body == b"<rss/>"
    assert c.status == "not-modified"
