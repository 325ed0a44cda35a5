"""The decider: what each fetch means, from tables of cases, with no servers and no clock."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from digest.decide import Decision, decide, due_alerts, freshness, is_news, next_state
from digest.models import FeedState, Fetched, Paper, SourceOutcome
from digest.sources.arxiv import ArxivSource
from digest.sources.base import Listing
from digest.sources.feed import FeedSource
from digest.sources.hf import HfDailySource
from tests.conftest import fixture_bytes

RSS = fixture_bytes("arxiv_rss_cs_LG.xml")
EMPTY = fixture_bytes("malformed/rss_empty_weekend.xml")
BAD_CATEGORY = fixture_bytes("malformed/rss_error_bad_category.xml")
TRUNCATED = fixture_bytes("malformed/rss_truncated.xml")
HF = fixture_bytes("hf_daily_papers.json")
FEED = FeedSource(name="feed", url="https://example.org/rss")
ARXIV = ArxivSource(type="arxiv", name="arxiv", categories=("cs.LG",))
ARXIV_ALL = ArxivSource(
    type="arxiv",
    name="arxiv",
    categories=("cs.LG",),
    announce_types=("new", "cross", "replace", "replace-cross"),
)
HF_DAILY = HfDailySource(type="hf-daily", name="hf")
URL = "https://example.org/rss"
OLD = datetime(2025, 9, 1, tzinfo=UTC)
FUTURE = datetime(2030, 1, 1, tzinfo=UTC)


def ok(body: bytes, status: int = 200, etag: str | None = '"v2"') -> Fetched:
    """A fetched body with an HTTP status and an ETag."""
    return Fetched(status="ok", body=body, http_status=status, etag=etag, url=URL)


# (case, source, fetched, remembered state, status, stored papers, error words, state kept?)
CASES = [
    ("listing", ARXIV, ok(RSS), FeedState(), "ok", 32, None, False),
    ("replacements kept when asked", ARXIV_ALL, ok(RSS), FeedState(), "ok", 46, None, False),
    ("older batch than seen", ARXIV, ok(RSS), FeedState(batch=FUTURE), "stale", 32, None, False),
    ("newer batch", ARXIV, ok(RSS), FeedState(batch=OLD), "ok", 32, None, False),
    ("weekend: no items", ARXIV, ok(EMPTY), FeedState(), "no-batch", 0, None, False),
    (
        "304",
        FEED,
        Fetched(status="not-modified", http_status=304),
        FeedState(),
        "not-modified",
        0,
        None,
        True,
    ),
    ("HTTP 500", FEED, ok(b"oops", 500), FeedState(), "failed", 0, "answered HTTP 500", True),
    ("HTTP 404 with a feed body", FEED, ok(RSS, 404), FeedState(), "failed", 0, "HTTP 404", True),
    (
        "arXiv 'Feed error' as HTTP 400",
        ARXIV,
        ok(BAD_CATEGORY, 400),
        FeedState(),
        "failed",
        0,
        "HTTP 400: ",
        True,
    ),
    ("truncated document", FEED, ok(TRUNCATED), FeedState(), "failed", 0, "not a complete", True),
    ("not a feed", FEED, ok(b"<html>hi</html>"), FeedState(), "failed", 0, "not", True),
    ("Hugging Face JSON", HF_DAILY, ok(HF), FeedState(), "ok", 0, None, False),
]


@pytest.mark.parametrize(
    ("case", "source", "fetched", "state", "status", "stored", "error", "keeps_state"),
    CASES,
    ids=[c[0] for c in CASES],
)
def test_every_fetch_outcome_is_decided(
    case: str,
    source: ArxivSource | FeedSource | HfDailySource,
    fetched: Fetched,
    state: FeedState,
    status: str,
    stored: int,
    error: str | None,
    keeps_state: bool,
) -> None:
    """Each kind of fetch gets its status, the news to store, its error words, and either a
    new feed state (with this response's validators) or none (keep the old one)."""
    decision = decide(source, fetched, state, location=URL)
    assert decision.status == status, decision.error
    if case != "Hugging Face JSON":
        assert len(decision.papers) == stored
    else:
        assert decision.papers and decision.listed == len(decision.papers)
    if error is None:
        assert decision.error is None
    else:
        assert decision.error is not None and error in decision.error
    if keeps_state:
        assert decision.state is None
    else:
        assert decision.state is not None and decision.state.etag == fetched.etag


def test_a_failed_decision_reports_the_source_and_its_reason() -> None:
    """The run report's line for a failure carries the reason and stores nothing."""
    decision = decide(FEED, ok(b"oops", 503), FeedState(), location=URL)
    assert decision.outcome("feed") == SourceOutcome(
        name="feed",
        status="failed",
        papers=0,
        new=0,
        error=f"source 'feed': GET {URL} answered HTTP 503",
    )


@pytest.mark.parametrize(
    ("announce", "allowed", "news"),
    [
        (None, ("new",), True),
        ("new", ("new", "cross"), True),
        ("cross", ("new", "cross"), True),
        ("replace", ("new", "cross"), False),
        ("replace-cross", ("new", "cross"), False),
        ("replace", ("new", "replace"), True),
    ],
)
def test_announce_policy(announce: str | None, allowed: tuple[str, ...], news: bool) -> None:
    """Replacements are not news unless the source's announce_types lets them in."""
    assert is_news(Paper(id="x", title="T", announce_type=announce), allowed) is news


@pytest.mark.parametrize(
    ("listed", "batch", "seen", "expected"),
    [
        (1, None, None, "ok"),
        (0, None, None, "no-batch"),
        (1, OLD, FUTURE, "stale"),
        (0, OLD, FUTURE, "stale"),
        (1, FUTURE, OLD, "ok"),
        (1, OLD, OLD, "ok"),
    ],
)
def test_freshness(
    listed: int, batch: datetime | None, seen: datetime | None, expected: str
) -> None:
    """A batch older than one already seen is stale; an empty listing is no batch."""
    papers = tuple(Paper(id=str(i), title="T") for i in range(listed))
    assert freshness(Listing(papers=papers, batch=batch), FeedState(batch=seen)) == expected


def test_next_state_keeps_the_newest_batch_and_the_new_validators() -> None:
    """A stale batch never moves the remembered batch time back."""
    state = next_state(
        FeedState(etag='"v1"', batch=FUTURE), ok(b"", etag='"v2"'), Listing((), batch=OLD)
    )
    assert state == FeedState(etag='"v2"', last_modified=None, batch=FUTURE)


@pytest.mark.parametrize(
    ("status", "earlier", "failures", "due"),
    [
        ("failed", 1, 3, False),
        ("failed", 2, 3, True),
        ("failed", 3, 3, False),  # already alerted on the run that reached the threshold
        ("ok", 2, 3, False),
        ("failed", 0, 1, True),
    ],
)
def test_alert_rule(status: str, earlier: int, failures: int, due: bool) -> None:
    """An alert goes once, on the run whose streak of failures reaches the threshold."""
    outcome = SourceOutcome(name="s", status=status, error="boom")  # type: ignore[arg-type]
    got = due_alerts([outcome], {"s": earlier}, failures)
    assert got == ([("s", earlier + 1, "boom")] if due else [])


def test_decision_defaults_store_nothing() -> None:
    """A bare decision stores nothing and keeps the old state."""
    assert Decision(status="not-modified").outcome("s") == SourceOutcome(
        name="s", status="not-modified"
    )
