""" "More like this" / "Less like this": signed links on each paper of a real digest, a GET
that changes nothing, a POST that records (undo, forget), the CLI that lists and forgets,
the store on SQLite and PostgreSQL, and the next run ranking with what was liked."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from digest.store import Store
from tests.cli_helpers import run_cli
from tests.conftest import LISTINGS, ROOT, write_config
from tests.servers import HttpServer, Reply, SmtpServer
from tests.web_helpers import SECRET, endpoint, web_config

# links are signed at the run's moment and last a year: the runs are today and tomorrow
DAY1 = datetime.now(UTC).replace(microsecond=0).isoformat()
DAY2 = (datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)).isoformat()
FIXTURES = ROOT / "tests" / "data" / "fixtures"
pytestmark = pytest.mark.slow  # starts the endpoint in a process; embeds with the model


@pytest.fixture(autouse=True)
def _secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIGEST_TEST_SECRET", SECRET)


def _hybrid(tmp_path: Path, smtp: SmtpServer, keywords: list[str] | None = None) -> Path:
    """A [web] config ranked hybrid (feedback links need the semantic ranking)."""
    config = web_config(tmp_path, smtp.port)
    text = config.read_text().replace("semantic = false", "semantic = true")
    if keywords is not None:
        text = text.replace('keywords = ["network"]', f"keywords = {json.dumps(keywords)}")
    config.write_text(text)
    return config


def _feedback_links(smtp: SmtpServer, who: str) -> list[tuple[str, str]]:
    """(more, less) URLs of each paper shown in full in the newest digest to `who`."""
    message = [r for r in smtp.received if r.rcpt_tos == [who]][-1].message
    html = message.get_body(("html",))
    assert html is not None
    text = str(html.get_content())
    more = re.findall(r'href="([^"]+/m/[^"]+)">More like this', text)
    less = re.findall(r'href="([^"]+/l/[^"]+)">Less like this', text)
    return list(zip(more, less, strict=True))


def test_feedback_links_show_a_page_on_get_and_record_on_post_with_undo_and_forget(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each paper shown in full carries More/Less links (HTML and text); a GET shows its title
    and stores nothing; POST records (the latest click wins), undo and forget remove it; the
    CLI lists and counts it; an altered token is the plain 404."""
    config = _hybrid(tmp_path, smtp_server)
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    links = _feedback_links(smtp_server, "ada@example.org")
    assert len(links) == 10
    message = [r for r in smtp_server.received if r.rcpt_tos == ["ada@example.org"]][-1].message
    plain = message.get_body(("plain",))
    assert plain is not None and str(plain.get_content()).count("More like this: http") == 10
    more, less = links[0]
    with endpoint(config):
        page = httpx.get(more)
        assert page.status_code == 200 and 'value="record"' in page.text
        assert "More like this" in page.text and "<cite>" in page.text
        assert (
            "no feedback" in run_cli(capsys, "feedback", "ada@example.org", "--config", config).out
        )
        done = httpx.post(more, data={"action": "record"})
        assert done.status_code == 200 and "Noted: more papers like" in done.text
        listed = run_cli(capsys, "feedback", "ada@example.org", "--config", config).out
        assert len(listed.splitlines()) == 1 and "+1 more" in listed
        states = json.loads(run_cli(capsys, "subscribers", "--config", config, "--json").out)
        assert [(s["liked"], s["disliked"]) for s in states] == [(1, 0), (0, 0)]
        assert httpx.post(less, data={"action": "record"}).status_code == 200
        assert "-1 less" in run_cli(capsys, "feedback", "ada@example.org", "--config", config).out
        undone = httpx.post(less, data={"action": "undo"})
        assert undone.status_code == 200 and "Undone" in undone.text
        assert (
            "no feedback" in run_cli(capsys, "feedback", "ada@example.org", "--config", config).out
        )
        for url in (more, links[1][1]):
            assert httpx.post(url, data={"action": "record"}).status_code == 200
        forgot = httpx.post(more, data={"action": "forget"})
        assert forgot.status_code == 200 and "forgotten" in forgot.text
        assert (
            "no feedback" in run_cli(capsys, "feedback", "ada@example.org", "--config", config).out
        )
        token = more.rsplit("/", 1)[1]
        altered = more[: -len(token)] + token[::-1]
        assert httpx.get(altered).status_code == 404
        assert httpx.post(more, data={"action": "nonsense"}).status_code == 400


def test_the_cli_forgets_feedback_and_an_unsubscribe_keeps_it(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`digest feedback EMAIL --forget` deletes what the address said; an opt-out leaves
    feedback in place until then."""
    config = _hybrid(tmp_path, smtp_server)
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    more, _ = _feedback_links(smtp_server, "ada@example.org")[0]
    with endpoint(config):
        assert httpx.post(more, data={"action": "record"}).status_code == 200
    store = Store.sqlite(tmp_path / "state" / "digest.sqlite3")
    try:
        store.opt_out("ada@example.org", now=datetime.now(UTC), via="cli")
        assert store.feedback_counts() == {"ada@example.org": (1, 0)}
    finally:
        store.close()
    forgot = run_cli(capsys, "feedback", "ada@example.org", "--config", config, "--forget")
    assert forgot.code == 0 and "forgot feedback on 1 papers" in forgot.out
    assert "no feedback" in run_cli(capsys, "feedback", "ada@example.org", "--config", config).out


def test_the_next_run_ranks_with_a_liked_paper_and_says_why(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """After "more like this" on day 1, day 2's digest for that subscriber holds papers that
    entered for their likeness, each saying "similar to ..., which you liked"; without the
    click the same day-2 run has none."""
    config = _hybrid(tmp_path, smtp_server, keywords=["pruning"])
    control = tmp_path / "control"
    control.mkdir()
    twin = _hybrid(control, smtp_server, keywords=["pruning"])
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    liked = [m for m, _ in _feedback_links(smtp_server, "ada@example.org")][:3]
    assert run_cli(capsys, "run", "--config", twin, "--now", DAY1).code == 0
    assert liked, "day 1 shows Ada some papers"
    with endpoint(config):
        for url in liked:
            assert httpx.post(url, data={"action": "record"}).status_code == 200
    outs = []
    for cfg, folder in ((config, tmp_path), (twin, control)):
        cfg.write_text(cfg.read_text().replace("day1.xml", "day2.xml"))
        out = folder / "day2"
        sent = run_cli(capsys, "run", "--config", cfg, "--now", DAY2, "--dry-run", "--outbox", out)
        assert sent.code == 0, sent.out
        for eml in out.glob("*.eml"):
            message = message_from_bytes(eml.read_bytes(), policy=policy.default)
            plain = message.get_body(("plain",))
            if "ada@example.org" in str(message["To"]) and plain is not None:
                outs.append(" ".join(str(plain.get_content()).split()))
    assert len(outs) == 2
    assert "which you liked" in outs[0], outs[0]
    assert "which you liked" not in outs[1]


def test_seed_papers_are_canonical_and_check_warns_about_unknown_ones(
    tmp_path: Path, smtp_server: SmtpServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """`like` accepts arXiv ids and URLs (canonicalised; garbage is a config error naming
    the key); `check` warns, never fails, for a seed no source has listed yet."""
    config = _hybrid(tmp_path, smtp_server)
    text = config.read_text()
    bad = text.replace('keywords = ["network"]', 'keywords = ["network"]\nlike = ["nonsense"]')
    config.write_text(bad)
    refused = run_cli(capsys, "check", "--config", config, "--dry-run")
    assert refused.code == 2 and "like" in refused.err and "nonsense" in refused.err
    seeds = '["https://arxiv.org/abs/2401.00001v2", "2401.00001"]'
    config.write_text(
        text.replace('keywords = ["network"]', f'keywords = ["network"]\nlike = {seeds}')
    )
    checked = run_cli(capsys, "check", "--config", config, "--dry-run")
    assert checked.code == 0, checked.out
    warned = [line for line in checked.out.splitlines() if line.startswith("warning: like")]
    assert warned == [
        "warning: like arxiv:2401.00001: not in the store yet: the next run looks it up"
    ]


def test_feedback_rows_on_sqlite_and_postgresql(store_url: str) -> None:
    """The latest click on a paper wins, undo and forget delete, counts and votes are per
    case-folded address, on both databases."""
    store = Store(store_url)
    now = datetime(2025, 9, 15, tzinfo=UTC)
    try:
        store.record_feedback("Ada@Example.org", "arxiv:1", 1, now=now)
        store.record_feedback("ada@example.org", "arxiv:2", 1, now=now)
        store.record_feedback("ada@example.org", "arxiv:2", -1, now=now)
        store.record_feedback("bob@example.org", "arxiv:1", -1, now=now)
        assert store.feedback_counts() == {"ada@example.org": (1, 1), "bob@example.org": (0, 1)}
        votes = store.feedback_votes(["ADA@example.org", "bob@example.org", "cy@example.org"])
        assert votes == {
            "ada@example.org": {"arxiv:1": 1, "arxiv:2": -1},
            "bob@example.org": {"arxiv:1": -1},
        }
        assert store.undo_feedback("ada@example.org", "arxiv:2")
        assert not store.undo_feedback("ada@example.org", "arxiv:2")
        assert store.forget_feedback("ADA@example.org") == 1
        assert [row[0] for row in store.feedback_of("bob@example.org")] == ["arxiv:1"]
    finally:
        store.close()


def test_a_seed_no_source_listed_is_looked_up_once_and_never_mailed(
    tmp_path: Path,
    http_server: HttpServer,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Seeds missing from the store are asked of the (loopback) arXiv API in one request; the
    one it knows is kept as an example, never a digest candidate, and not asked again; the
    one it does not know is a note in the report, not a failure."""
    query = "/api?id_list=2509.12269%2C2509.99999&max_results=2"
    http_server.routes[query] = Reply((FIXTURES / "arxiv_api_query.xml").read_bytes())
    people = [
        {
            "name": "Ada",
            "email": "ada@example.org",
            "keywords": ["network"],
            "like": ["https://arxiv.org/abs/2509.12269v1", "2509.99999"],
        }
    ]
    config = write_config(
        tmp_path,
        sources=[("day1", str(LISTINGS / "day1.xml"))],
        subscribers=people,
        smtp_port=smtp_server.port,
        extra=f'\n[ranking]\nsemantic = true\nseed_lookup = "{http_server.url("/api")}"\n',
    )
    run = run_cli(capsys, "run", "--config", config, "--now", DAY1, "--dry-run")
    assert run.code == 0, run.out
    assert "note: seed arxiv:2509.99999 not found in the arXiv API" in run.out
    assert len(http_server.hits(query)) == 1
    eml = next((tmp_path / "outbox").glob("*.eml")).read_bytes()
    message = message_from_bytes(eml, policy=policy.default)
    plain = message.get_body(("plain",))
    assert plain is not None and "2509.12269" not in str(plain.get_content())
    # a real run keeps the found seed (no seq: never a candidate); the next asks only for
    # the other
    http_server.routes["/api?id_list=2509.99999&max_results=1"] = Reply(
        (FIXTURES / "arxiv_api_query.xml").read_bytes()
    )
    assert run_cli(capsys, "run", "--config", config, "--now", DAY1).code == 0
    sent = smtp_server.received[0].message.get_body(("plain",))
    assert sent is not None and "2509.12269" not in str(sent.get_content())
    store = Store.sqlite(tmp_path / "state" / "digest.sqlite3")
    try:
        seed = store.paper("arxiv:2509.12269")
        assert seed is not None and seed.title
    finally:
        store.close()
    assert len(http_server.hits(query)) == 2  # the dry-run kept nothing
    assert run_cli(capsys, "run", "--config", config, "--now", DAY2).code == 0
    assert len(http_server.hits(query)) == 2
    assert len(http_server.hits("/api?id_list=2509.99999&max_results=1")) == 1
