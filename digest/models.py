"""Frozen dataclasses shared by every stage; no I/O, no behaviour beyond small helpers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Literal

SourceStatus = Literal["ok", "not-modified", "no-batch", "stale", "failed"]
# unrecorded: accepted by the server but the store could not record it; stopped: not tried
# because sending stopped (a failed ledger write, a shutdown)
DeliveryStatus = Literal[
    "sent", "written", "nothing-new", "opted-out", "paused", "failed", "unrecorded", "stopped"
]
BounceKind = Literal["hard", "soft"]


@dataclass(frozen=True)
class Paper:
    """One paper as a source saw it, keyed by its canonical id."""

    id: str
    title: str
    link: str = ""
    authors: tuple[str, ...] = ()
    abstract: str = ""
    version: int | None = None
    categories: tuple[str, ...] = ()
    announce_type: str | None = None
    doi: str | None = None
    journal_ref: str | None = None
    published: datetime | None = None
    upvotes: int | None = None
    comments: int | None = None
    github: str | None = None
    project_page: str | None = None
    ai_summary: str | None = None
    source: str = ""

    def __hash__(self) -> int:
        """By id alone: equal papers share an id, so this agrees with ==, and a run hashes
        papers by the thousand (its card and filter caches) without hashing every field."""
        return hash(self.id)

    @property
    def arxiv_id(self) -> str | None:
        """The versionless arXiv id when the canonical id is one."""
        return self.id[len("arxiv:") :] if self.id.startswith("arxiv:") else None


@dataclass(frozen=True, slots=True)
class Subscriber:
    """A person who gets one digest per run, with what they care about."""

    name: str
    email: str
    keywords: tuple[str, ...]
    max_papers: int = 10
    exclude: tuple[str, ...] = ()
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    min_score: float = 0.0
    # canonical paper ids the subscriber asked for more / less of (config seeds and clicks);
    # they steer the hybrid ranking only (digest.ranking.feedback)
    liked: tuple[str, ...] = ()
    disliked: tuple[str, ...] = ()


@dataclass(frozen=True)
class Scored:
    """A paper with its relevance score for one subscriber and the reasons for it."""

    paper: Paper
    score: float
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Digest:
    """What one subscriber receives in one run: the ranked papers and what the cap cut."""

    subscriber: Subscriber
    day: date
    papers: tuple[Scored, ...]
    more: tuple[Scored, ...] = ()
    matched: int = 0

    @property
    def total(self) -> int:
        """How many papers matched, including those the caps left out of the email."""
        return max(self.matched, len(self.papers) + len(self.more))


@dataclass(frozen=True)
class StoreTimeouts:
    """How long the store may wait, in seconds: to connect, for a lock another session holds,
    for one statement (None: no limit); and how long one of its sessions may sit idle inside
    a transaction (a stalled process) before the server ends it and frees its locks."""

    connect: float = 10.0
    lock: float = 30.0
    statement: float | None = None
    idle_in_transaction: float = 30.0


@dataclass(frozen=True, slots=True)
class Sent:
    """A message the SMTP server accepted, to record in the ledger (see Store.record_deliveries)."""

    subscriber: str
    paper_ids: tuple[str, ...]
    message_id: str
    run_at: datetime
    sent_at: datetime
    cursor: int | None = None
    html: str | None = None  # kept for "View in browser"


@dataclass(frozen=True)
class Fetched:
    """One fetch's outcome: a body (status 'ok'), or nothing new ('not-modified'), and the
    response headers a parser reads (Content-Type, -Location, -Language, lower-case names)."""

    status: Literal["ok", "not-modified"]
    body: bytes = b""
    http_status: int | None = None
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class FeedState:
    """What the store remembers of a source between runs (conditional GET, staleness)."""

    etag: str | None = None
    last_modified: str | None = None
    batch: datetime | None = None


@dataclass(frozen=True)
class Bounce:
    """A permanent (hard) or temporary (soft) failure an address met: refused at RCPT TO
    (via "smtp") or reported later by a delivery status notification (via "dsn"). `ref` names
    the bounce message (or the refused message) so a second sight of it counts once."""

    email: str
    kind: BounceKind
    status: str  # the enhanced status code ("5.1.1") or, without one, the SMTP reply code
    via: Literal["smtp", "dsn"]
    ref: str


@dataclass(frozen=True)
class Pause:
    """An address not mailed until an operator resumes it, and why."""

    email: str
    since: str  # ISO time
    kind: BounceKind
    status: str
    reason: str  # "hard bounce 5.1.1", "5 soft bounces in 14 days, the last 4.2.2"

    def describe(self) -> str:
        """'hard bounce 5.1.1 on 2026-12-03'."""
        return f"{self.reason} on {self.since[:10]}"


@dataclass(frozen=True)
class SourceOutcome:
    """How one source fared in one run; `recovered` names the XML error its document had
    that the parser read past without losing items (e.g. 'undefined entity, line 40')."""

    name: str
    status: SourceStatus
    papers: int = 0
    new: int = 0
    error: str | None = None
    recovered: str | None = None


@dataclass(frozen=True)
class DeliveryOutcome:
    """How one subscriber's digest fared in one run."""

    subscriber: str
    email: str
    status: DeliveryStatus
    papers: int = 0
    message_id: str | None = None
    location: str | None = None
    error: str | None = None
    bounce: BounceKind | None = None  # the server refused the address at RCPT TO
    paused: str | None = None  # why the address is paused ("hard bounce 5.1.1 on 2026-12-03")


@dataclass(frozen=True)
class RunReport:
    """Everything one pass did, for the CLI to print and the store to keep."""

    started: datetime
    finished: datetime
    dry_run: bool
    sources: tuple[SourceOutcome, ...] = ()
    deliveries: tuple[DeliveryOutcome, ...] = ()
    new_papers: int = 0
    sending_seconds: float = 0.0
    notes: tuple[str, ...] = field(default=())
    ranker: str = "lexical"  # or "hybrid (<model>)"
    errors: tuple[str, ...] = ()  # what went wrong for the whole run (the store, mostly)
    instance: str = ""  # which instance did this (shared runs on PostgreSQL)
    statements: int = 0  # SQL statements this instance sent during the run
    smtp_retries: int = 0  # sends tried again after a temporary failure
    fetch_seconds: float = 0.0  # fetching, deciding and storing the sources' papers
    plan_seconds: float = 0.0  # indexing, embedding and ranking (on the planning thread)
    send_seconds: float = 0.0  # the sending phase less the ranking done between sends

    @property
    def throughput(self) -> float | None:
        """Emails accepted per second while sending, when anything was sent."""
        done = sum(1 for d in self.deliveries if d.status in ("sent", "written"))
        return done / self.sending_seconds if done and self.sending_seconds > 0 else None

    @property
    def failed(self) -> bool:
        """True when any source or delivery failed."""
        return (
            bool(self.errors)
            or any(s.status == "failed" for s in self.sources)
            or any(d.status in ("failed", "unrecorded", "stopped") for d in self.deliveries)
        )


@dataclass(frozen=True)
class Windows:
    """Every subscriber's candidates, compactly: subscribers whose windows open at the same
    paper share one list of ids; each keeps only the few ids of it already sent to them."""

    papers: dict[str, Paper]  # every candidate paper by id
    groups: tuple[tuple[tuple[str, ...], tuple[int, ...]], ...]  # (ids, subscriber rows)
    sent: dict[int, frozenset[str]]  # subscriber row -> ids in their window already sent

    def pools(self, count: int) -> list[list[str]]:
        """Each subscriber's candidate ids as a list (what `groups` and `sent` stand for)."""
        out: list[list[str]] = [[] for _ in range(count)]
        for ids, rows in self.groups:
            for row in rows:
                gone = self.sent.get(row)
                out[row] = [pid for pid in ids if not gone or pid not in gone]
        return out
