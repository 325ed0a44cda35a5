"""Each source type through a real run: announce-type policy, feed errors, empty and stale
batches, 304s and cross-source dedup in one email."""

from __future__ import annotations

from pathlib import Path

import pytest

from digest.fetch import Fetcher
from digest.store import Store
from tests.cli_helpers import paper_links, run_cli
from tests.conftest import fixture_bytes, write_config
from tests.servers import HttpServer, Reply, SmtpServer

pytestmark = pytest.mark.slow  # starts the CLI or servers in processes

NOW = "2025-09-16T07:30:00+00:00"
LATER = "2025-09-17T07:30:00+00:00"
BROAD = {
    "name": "Ada",
    "email": "ada@example.org",
    "keywords": ["network", "learning", "model", "data", "neural"],
    "max_papers": 200,
}


def _arxiv(name: str, url: str, extra: str = "") -> str:
    return f'[[sources]]\nname = "{name}"\ntype = "arxiv"\ncategories = ["cs.LG"]\nurl = "{url}"\n{extra}\n'


def _config(tmp_path: Path, smtp: SmtpServer, sources: str) -> Path:
    return write_config(
        tmp_path, sources=[], subscribers=[BROAD], smtp_port=smtp.port, extra="\n" + sources
    )


def _store(tmp_path: Path) -> Store:
    return Store.sqlite(tmp_path / "state" / "digest.sqlite3")


def test_replacements_are_not_news_unless_configured(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """By default only new and cross listings are stored; listing the replace types takes all 46."""
    http_server.routes["/rss"] = Reply(fixture_bytes("arxiv_rss_cs_LG.xml"))
    config = _config(tmp_path, smtp_server, _arxiv("cs.LG", http_server.url("/rss")))
    result = run_cli(capsys, "run", "--once", "--config", config, "--now", NOW)
    assert result.code == 0, result.out
    assert "32 papers, 32 new" in result.out
    store = _store(tmp_path)
    assert store.paper("arxiv:1312.4402") is None
    store.close()

    wide = tmp_path / "wide"
    wide.mkdir()
    config = _config(
        wide,
        smtp_server,
        _arxiv(
            "cs.LG",
            http_server.url("/rss"),
            'announce_types = ["new", "cross", "replace", "replace-cross"]',
        ),
    )
    result = run_cli(capsys, "run", "--once", "--config", config, "--now", NOW)
    assert "46 papers, 46 new" in result.out


def test_feed_error_names_the_bad_category_and_others_go_on(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """arXiv's HTTP 400 'Feed error' document fails its source with the category named; the
    good source still delivers; exit 1."""
    http_server.routes["/bad"] = Reply(
        fixture_bytes("malformed/rss_error_bad_category.xml"), status=400
    )
    http_server.routes["/rss"] = Reply(fixture_bytes("arxiv_rss_cs_LG.xml"))
    config = _config(
        tmp_path,
        smtp_server,
        _arxiv("cs.XY", http_server.url("/bad")) + _arxiv("cs.LG", http_server.url("/rss")),
    )
    result = run_cli(capsys, "run", "--once", "--config", config, "--now", NOW)
    assert result.code == 1
    line = next(x for x in result.out.splitlines() if "cs.XY:" in x)
    assert line.split()[0] == "failed" and "HTTP 400" in line and "Bad subject class 'XY'" in line
    assert len(smtp_server.received) == 1


def test_empty_weekend_feed_is_no_batch_not_failure(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """An empty listing is reported as 'no-batch' and the run exits 0."""
    http_server.routes["/rss"] = Reply(fixture_bytes("malformed/rss_empty_weekend.xml"))
    config = _config(tmp_path, smtp_server, _arxiv("cs.LG", http_server.url("/rss")))
    result = run_cli(capsys, "run", "--once", "--config", config, "--now", NOW)
    assert result.code == 0
    assert "no-batch" in result.out


def test_truncated_feed_adds_no_papers(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A truncated document fails its source and stores none of its readable entries."""
    http_server.routes["/rss"] = Reply(fixture_bytes("malformed/rss_truncated.xml"))
    config = _config(tmp_path, smtp_server, _arxiv("cs.LG", http_server.url("/rss")))
    result = run_cli(capsys, "run", "--once", "--config", config, "--now", NOW)
    assert result.code == 1 and "not a complete RSS/Atom document" in result.out
    store = _store(tmp_path)
    assert store.count_papers() == 0
    store.close()


def test_an_older_batch_than_last_time_is_flagged_stale(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """When the feed serves a batch older than the one the previous run saw, it is 'stale'."""
    today = fixture_bytes("arxiv_rss_cs_LG.xml")
    older = today.replace(b"Tue, 16 Sep 2025", b"Mon, 15 Sep 2025")
    http_server.routes["/rss"] = [Reply(today), Reply(older)]
    config = _config(tmp_path, smtp_server, _arxiv("cs.LG", http_server.url("/rss")))
    assert run_cli(capsys, "run", "--once", "--config", config, "--now", NOW).code == 0
    second = run_cli(capsys, "run", "--once", "--config", config, "--now", LATER)
    assert "stale" in second.out.split("emails:")[0]


def test_unchanged_feed_is_fetched_conditionally(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The second run sends the stored ETag and a 304 is reported as 'not-modified'."""
    http_server.routes["/rss"] = Reply(
        fixture_bytes("arxiv_rss_cs_LG.xml"), headers={"ETag": '"b1"'}
    )
    config = _config(tmp_path, smtp_server, _arxiv("cs.LG", http_server.url("/rss")))
    run_cli(capsys, "run", "--once", "--config", config, "--now", NOW)
    second = run_cli(capsys, "run", "--once", "--config", config, "--now", LATER)
    assert second.code == 0 and "not-modified" in second.out
    assert http_server.hits("/rss")[1].headers["if-none-match"] == '"b1"'


def test_rss_api_and_hf_in_one_run_give_each_paper_once(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """With RSS, API and HF sources overlapping, the email lists every paper exactly once."""
    http_server.routes["/rss"] = Reply(fixture_bytes("arxiv_rss_cs_LG.xml"))
    http_server.routes["/api"] = Reply(fixture_bytes("arxiv_api_query.xml"))
    http_server.routes["/hf"] = Reply(fixture_bytes("hf_daily_papers.json"))
    sources = (
        _arxiv("cs.LG", http_server.url("/rss"))
        + f'[[sources]]\nname = "api"\ntype = "arxiv-api"\nquery = "cat:cs.LG"\nurl = "{http_server.url("/api")}"\n\n'
        + f'[[sources]]\nname = "hf"\ntype = "hf-daily"\nurl = "{http_server.url("/hf")}"\n'
    )
    config = _config(tmp_path, smtp_server, sources)
    result = run_cli(capsys, "run", "--once", "--config", config, "--now", NOW)
    assert result.code == 0, result.out
    html = smtp_server.received[0].message.get_body(("html",)).get_content()
    links = paper_links(html)
    assert links and len(links) == len(set(links))
    store = _store(tmp_path)
    assert store.count_papers() == 32 + 33 - 2
    assert store.paper("arxiv:2509.11992").upvotes is not None  # type: ignore[union-attr]
    store.close()


async def test_arxiv_hosts_are_paced_three_seconds_apart(http_server: HttpServer) -> None:
    """By default every arXiv host gets at least 3 s between requests; the same gate, pointed
    at this loopback server, spaces real requests 3 s apart on the wire."""
    default = Fetcher()
    assert default.interval_for("rss.arxiv.org") == 3.0
    assert default.interval_for("export.arxiv.org") == 3.0
    assert default.interval_for("huggingface.co") == 0.0
    http_server.routes["/api"] = Reply(b"<feed/>")
    async with Fetcher(host_intervals={"127.0.0.1": 3.0}) as f:
        await f.fetch(http_server.url("/api"))
        await f.fetch(http_server.url("/api"))
    a, b = http_server.hits("/api")
    assert b.at - a.at >= 2.95
