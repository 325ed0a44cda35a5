"""Prometheus metrics of one process (a registry of its own, never the client library's global
one): runs, digests, sources, durations, subscriber-link requests, and the process itself.
Labels are schedule groups, source names, statuses and outcomes: never an address or keyword."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector
from prometheus_client.exposition import generate_latest

from digest.models import RunReport

# what a source failure says, as a small fixed set of label values
_REASONS = (
    ("timeout", ("no complete answer", "timed out", "timeout")),
    ("dns", ("cannot resolve", "no such host", "name or service")),
    ("refused", ("refused the connection", "connection refused")),
    ("http", ("http ", "status ")),
    ("too_large", ("byte limit",)),
    ("not_a_feed", ("not a complete", "not an rss", "not a feed", "an html page", "json")),
)


def reason_class(error: str) -> str:
    """A source failure's reason class (one of a few fixed words, never the message)."""
    words = error.lower()
    for name, marks in _REASONS:
        if any(mark in words for mark in marks):
            return name
    return "other"


class Metrics:
    """Counters, gauges and histograms fed by run reports and the endpoint's requests."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        ProcessCollector(registry=r)
        self.runs_started = Counter("digest_runs_started", "Runs started.", ["group"], registry=r)
        self.runs_finished = Counter(
            "digest_runs_finished", "Runs finished, by outcome.", ["group", "outcome"], registry=r
        )
        self.digests = Counter(
            "digest_digests", "Digests by what became of them.", ["status"], registry=r
        )
        self.papers = Counter(
            "digest_papers_fetched", "Papers listed by each source.", ["source"], registry=r
        )
        self.source_failures = Counter(
            "digest_source_failures",
            "Source failures by reason class.",
            ["source", "reason"],
            registry=r,
        )
        self.failing = Gauge(
            "digest_source_failures_in_a_row",
            "Runs in a row (since the process started) in which the source failed.",
            ["source"],
            registry=r,
        )
        self.last_success = Gauge(
            "digest_last_successful_run_timestamp_seconds",
            "When a run of the group last finished without failures (Unix time).",
            ["group"],
            registry=r,
        )
        self.durations = Histogram(
            "digest_run_phase_seconds",
            "Run durations: total, fetch (and store), plan (rank), send.",
            ["phase"],
            buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
            registry=r,
        )
        self.bounces = Counter(
            "digest_bounces",
            "Bounces: hard and soft (refused at RCPT TO, or reported later), and messages in "
            "the bounce mailbox that counted for nothing (ignored).",
            ["kind", "via"],
            registry=r,
        )
        self.paused = Gauge(
            "digest_paused_subscribers", "Subscribers paused by bounces.", registry=r
        )
        self.smtp_retries = Counter(
            "digest_smtp_retries", "Sends tried again after a temporary failure.", registry=r
        )
        self.requests = Counter(
            "digest_web_requests",
            "Subscriber-link requests by route and outcome.",
            ["route", "outcome"],
            registry=r,
        )

    def run_started(self, group: str) -> None:
        """A run of `group` starts."""
        self.runs_started.labels(group).inc()

    def run_finished(self, group: str, report: RunReport) -> None:
        """Count what a finished run did."""
        outcome = "failed" if report.failed else "ok"
        self.runs_finished.labels(group, outcome).inc()
        for d in report.deliveries:
            self.digests.labels(d.status).inc()
            if d.bounce:
                self.bounces.labels(d.bounce, "smtp").inc()
        self.smtp_retries.inc(report.smtp_retries)
        for s in report.sources:
            self.papers.labels(s.name).inc(s.papers)
            if s.status == "failed":
                self.source_failures.labels(s.name, reason_class(s.error or "")).inc()
                self.failing.labels(s.name).inc()
            else:
                self.failing.labels(s.name).set(0)
        total = (report.finished - report.started).total_seconds()
        self.durations.labels("total").observe(total)
        self.durations.labels("fetch").observe(report.fetch_seconds)
        self.durations.labels("plan").observe(report.plan_seconds)
        self.durations.labels("send").observe(report.send_seconds)
        if not report.failed:
            self.last_success.labels(group).set(report.finished.timestamp())

    def bounces_read(self, hard: int, soft: int, ignored: int) -> None:
        """Count what one reading of the bounce mailbox found."""
        self.bounces.labels("hard", "dsn").inc(hard)
        self.bounces.labels("soft", "dsn").inc(soft)
        self.bounces.labels("ignored", "dsn").inc(ignored)

    def request(self, route: str, outcome: int) -> None:
        """One subscriber-link request answered with `outcome` (its status code)."""
        self.requests.labels(route, str(outcome)).inc()

    def exposition(self) -> bytes:
        """The Prometheus text format of everything."""
        return bytes(generate_latest(self.registry))
