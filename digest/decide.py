"""What a fetch means, as pure functions of their inputs (after lemon24/reader's decider):
HTTP status, which papers are news, ok / stale / no-batch, the feed state to remember, and
which failing sources are due an alert. `pipeline`, `check --connect` and the service share
them; nothing here does I/O or reads the clock."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from digest.errors import SourceError, SourceReportedError
from digest.models import FeedState, Fetched, Paper, SourceOutcome, SourceStatus
from digest.sources.base import Listing, SourceSettings


@dataclass(frozen=True)
class Decision:
    """What to do with one fetch: the outcome's status, the papers to store (news only),
    the feed state to remember (None: keep the old one), why it failed, and the XML error
    its document was read past."""

    status: SourceStatus
    papers: tuple[Paper, ...] = ()
    listed: int = 0
    state: FeedState | None = None
    error: str | None = None
    recovered: str | None = None

    def outcome(self, name: str, new: int = 0) -> SourceOutcome:
        """The run report's line for this source, with `new` papers stored."""
        return SourceOutcome(
            name=name,
            status=self.status,
            papers=len(self.papers),
            new=new,
            error=self.error,
            recovered=self.recovered,
        )


def failed(error: str) -> Decision:
    """A source that could not be read: nothing stored, state kept."""
    return Decision(status="failed", error=error)


def http_error(source: SourceSettings, fetched: Fetched, location: str) -> str | None:
    """Why an HTTP error status fails the source (None when the status is a success).

    A feed-shaped error page (arXiv's "Feed error" answered with HTTP 400) says more than the
    status, so its words are used when it parses as one.
    """
    status = fetched.http_status
    if status is None or status < 400:
        return None
    try:
        source.parse(fetched.body, fetched.url, fetched.headers)
    except SourceReportedError as exc:
        return f"HTTP {status}: {exc}"
    except SourceError:
        pass
    return f"source {source.name!r}: GET {location} answered HTTP {status}"


def is_news(paper: Paper, announce_types: Iterable[str]) -> bool:
    """The announce-type policy: replacements are not news unless configured."""
    return paper.announce_type is None or paper.announce_type in announce_types


def freshness(listing: Listing, state: FeedState) -> SourceStatus:
    """'stale' when the batch is older than one already seen, 'no-batch' for an empty
    listing (weekends, holidays), else 'ok'."""
    if state.batch and listing.batch and listing.batch < state.batch:
        return "stale"
    if not listing.papers:
        return "no-batch"
    return "ok"


def next_state(state: FeedState, fetched: Fetched, listing: Listing) -> FeedState:
    """The validators of this response and the newest batch time seen so far."""
    batch = max((b for b in (state.batch, listing.batch) if b), default=None)
    return FeedState(etag=fetched.etag, last_modified=fetched.last_modified, batch=batch)


def decide(
    source: SourceSettings, fetched: Fetched, state: FeedState, *, location: str
) -> Decision:
    """Everything one fetch of `source` (from `location`) means, given what was remembered."""
    if fetched.status == "not-modified":
        return Decision(status="not-modified")
    error = http_error(source, fetched, location)
    if error is not None:
        return failed(error)
    try:
        listing = source.parse(fetched.body, fetched.url or location, fetched.headers)
    except SourceError as exc:
        return failed(str(exc))
    news = tuple(p for p in listing.papers if is_news(p, source.announce_types))
    return Decision(
        status=freshness(listing, state),
        papers=news,
        listed=len(listing.papers),
        state=next_state(state, fetched, listing),
        recovered=listing.recovered,
    )


def due_alerts(
    outcomes: Sequence[SourceOutcome], earlier: dict[str, int], failures: int
) -> list[tuple[str, int, str]]:
    """(source, streak, last error) for each source whose failed runs in a row reach exactly
    `failures` with this run (`earlier`: the streaks before it), so each alert goes once."""
    due = []
    for outcome in outcomes:
        if outcome.status == "failed":
            streak = 1 + earlier.get(outcome.name, 0)
            if streak == failures:
                due.append((outcome.name, streak, outcome.error or "failed"))
    return due
