"""The config file's shape: one frozen pydantic model per TOML table, as written; pure."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from digest.config.fields import (
    BaseUrl,
    Category,
    Clock,
    Day,
    Email,
    ListenAddress,
    Sender,
    Strict,
    Text,
    UnsubscribeUrl,
    Zone,
    as_tuple,
)
from digest.ids import parse_arxiv_id
from digest.ranking.stopwords import only_stopwords
from digest.ranking.text import words
from digest.sources.registry import AnySource


class StoreSettings(Strict):
    """Where state lives: a SQLite path (relative to the config) or an SQLAlchemy URL."""

    path: Text = "state/digest.sqlite3"
    url: Text | None = None
    password_env: Text | None = None  # the database password, from this variable
    connect_timeout: float = Field(default=10.0, gt=0, le=600.0)
    lock_timeout: float = Field(default=30.0, gt=0, le=3600.0)
    statement_timeout: float | None = Field(default=None, gt=0, le=86400.0)
    # several instances on one PostgreSQL: an instance silent this long (stalled, or its
    # host gone) loses its session, and with it its share of a run, to the others
    failover_seconds: float = Field(default=20.0, ge=2.0, le=600.0)


class EmailSettings(Strict):
    """Envelope and presentation settings shared by every digest."""

    sender: Sender
    outbox: Text = "outbox"
    templates: Text | None = None
    lookback_days: int = Field(default=7, ge=1, le=365)
    unsubscribe: tuple[UnsubscribeUrl, ...] = ()
    list_id: Text | None = None

    _lists = field_validator("unsubscribe", mode="before")(as_tuple)


class SmtpSettings(Strict):
    """How to reach the SMTP server; the password comes from the environment only."""

    host: Text = "localhost"
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "tls", "none"] = "starttls"
    username: Text | None = None
    password_env: Text | None = None
    timeout: float = Field(default=30.0, gt=0)
    ca_file: Text | None = None
    connections: int = Field(default=4, ge=1, le=64)
    retries: int = Field(default=3, ge=0, le=20)
    backoff: float = Field(default=2.0, ge=0)
    max_per_minute: float | None = Field(default=None, gt=0)


class FetchSettings(Strict):
    """How politely and patiently sources are fetched."""

    contact: Email | None = None
    timeout: float = Field(default=30.0, gt=0)
    max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    retries: int = Field(default=3, ge=0, le=10)
    backoff: float = Field(default=2.0, ge=0)
    concurrency: int = Field(default=4, ge=1, le=64)
    deadline: float = Field(default=60.0, gt=0, le=3600)
    allow_private: bool = False


class ScheduleSettings(Strict):
    """Default send time, time zone and weekdays (subscribers may override each)."""

    time: Clock = dt.time(7, 30)
    timezone: Zone = "UTC"
    days: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri")
    misfire_grace_hours: float = Field(default=6.0, ge=0, le=48)

    _days = field_validator("days", mode="before")(as_tuple)


class AlertSettings(Strict):
    """Who hears about sources that keep failing."""

    admin_email: Email | None = None
    failures: int = Field(default=3, ge=1, le=100)


class SubscriberSettings(Strict):
    """One person and what they want to read about."""

    name: Text = Field(min_length=1)
    email: Email
    keywords: tuple[Text, ...] = Field(min_length=1)
    max_papers: int = Field(default=10, ge=1, le=200)
    exclude: tuple[Text, ...] = ()
    authors: tuple[Text, ...] = ()
    categories: tuple[Category, ...] = ()
    min_score: float = Field(default=0.0, ge=0)
    time: Clock | None = None
    timezone: Zone | None = None
    days: tuple[Day, ...] | None = None
    cadence: Literal["daily", "weekly"] = "daily"
    weekly_day: Day = "mon"
    like: tuple[Text, ...] = ()  # seed papers: arXiv ids or URLs, "more like this" from day one

    _lists = field_validator("keywords", "exclude", "authors", "categories", "like", mode="before")(
        as_tuple
    )

    @field_validator("like")
    @classmethod
    def _seeds(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out = []
        for seed in value:
            found = parse_arxiv_id(seed)
            if found is None:
                raise ValueError(
                    f"expected an arXiv id or URL such as '2509.11992' or "
                    f"'https://arxiv.org/abs/2401.00001v2', found {seed!r}"
                )
            out.append(f"arxiv:{found[0]}")
        return tuple(dict.fromkeys(out))

    @field_validator("keywords")
    @classmethod
    def _non_blank(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not k.strip() for k in value):
            raise ValueError("keywords must not be blank")
        for keyword in value:
            if only_stopwords(words(keyword.lower())):
                raise ValueError(
                    f"{keyword!r} is made only of stopwords, which match nearly every paper; "
                    "use a more specific word or phrase"
                )
        return value


class RankingSettings(Strict):
    """Ranking knobs shared by all subscribers."""

    popularity_weight: float = Field(default=0.1, ge=0, le=10)
    more: int = Field(default=20, ge=0, le=500)
    semantic: bool | Literal["auto"] = "auto"
    semantic_weight: float = Field(default=0.5, ge=0, le=1)
    model: Text | None = None
    # where seed papers (`like`) that no source has listed are looked up, once each
    seed_lookup: Text = "https://export.arxiv.org/api/query"

    @field_validator("semantic", mode="before")
    @classmethod
    def _semantic(cls, value: Any) -> Any:
        if value is True or value is False or value == "auto":
            return value
        raise ValueError(f'expected true, false or "auto", found {value!r}')


class WebSettings(Strict):
    """The subscriber link endpoint: where it listens, the public address links start with,
    and the variable holding the secret that signs them."""

    listen: ListenAddress = "127.0.0.1:8080"
    # http:// links for local testing only: mail providers offer one-click over https alone,
    # so such digests carry no List-Unsubscribe-Post
    allow_http: bool = False
    base_url: BaseUrl
    secret_env: Text
    keep_days: int = Field(default=30, ge=1, le=3650)  # sent digests kept for "View in browser"
    metrics_token_env: Text | None = None  # GET /metrics needs "Authorization: Bearer <it>"

    @field_validator("base_url")
    @classmethod
    def _https(cls, value: str, info: ValidationInfo) -> str:
        if value.lower().startswith("http://") and not info.data.get("allow_http"):
            raise ValueError(
                f"expected an https:// address (one-click unsubscribe needs https), found "
                f"{value!r}; for local testing only, set allow_http = true"
            )
        return value


class BounceSettings(Strict):
    """Bounces: how many soft ones pause an address, the IMAP mailbox they arrive in (none:
    only refusals at RCPT TO pause), what becomes of those read, and VERP envelope senders."""

    soft_limit: int = Field(default=5, ge=1, le=100)  # soft bounces within soft_days pause
    soft_days: int = Field(default=14, ge=1, le=365)
    host: Text | None = None
    port: int = Field(default=993, ge=1, le=65535)
    security: Literal["tls", "starttls", "none"] = "tls"
    ca_file: Text | None = None
    username: Text | None = None
    password_env: Text | None = None
    folder: Text = "INBOX"
    # flag: keyword $DigestProcessed (and \Seen); move: to move_to; delete: expunged
    processed: Literal["flag", "move", "delete"] = "flag"
    move_to: Text = "Processed"
    every_minutes: int = Field(default=30, ge=1, le=1440)  # how often `serve` reads them
    timeout: float = Field(default=30.0, gt=0, le=600)
    max_messages: int = Field(default=500, ge=1, le=100_000)  # per reading; the rest next time
    verp_domain: Text | None = None  # envelope sender bounces+TOKEN@this domain


class Settings(Strict):
    """The whole config file, as written."""

    store: StoreSettings = StoreSettings()
    email: EmailSettings
    smtp: SmtpSettings = SmtpSettings()
    fetch: FetchSettings = FetchSettings()
    ranking: RankingSettings = RankingSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    alerts: AlertSettings = AlertSettings()
    web: WebSettings | None = None
    bounces: BounceSettings = BounceSettings()
    sources: tuple[AnySource, ...] = Field(min_length=1)
    # validated one at a time by config.load (a big file's entries are dropped as they are
    # read): empty here once loaded; Config.subscribers holds them
    subscribers: tuple[SubscriberSettings, ...] = ()

    @field_validator("sources", mode="before")
    @classmethod
    def _default_type(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(
                {"type": "feed", **item} if isinstance(item, dict) and "type" not in item else item
                for item in value
            )
        return value

    @field_validator("subscribers", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        problem = duplicate_name("sources", [s.name for s in self.sources])
        if problem:
            raise ValueError(problem)
        if self.bounces.host and not self.bounces.username:
            raise ValueError(
                "bounces.username: expected the IMAP login name (bounces.host is set), found none"
            )
        if self.bounces.verp_domain and self.web is None:
            raise ValueError(
                "bounces.verp_domain: expected a [web] table too (its secret signs the "
                "bounce addresses), found none"
            )
        return self


def duplicate_name(label: str, names: Sequence[str]) -> str | None:
    """'label[i].name: duplicate name ...' for the first name seen twice."""
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            return f"{label}[{i}].name: duplicate name {name!r}"
        seen.add(name)
    return None


def duplicate_email(names: Sequence[str], emails: Sequence[str]) -> str | None:
    """The first subscriber address (case-insensitive) that is also an earlier one's."""
    first: dict[str, int] = {}
    for i, email in enumerate(emails):
        key = email.casefold()
        if key in first:
            return (
                f"subscribers[{i}].email: {email!r} is also subscribers[{first[key]}]"
                f" ({names[first[key]]!r}); one address gets one digest, so merge the two entries"
            )
        first[key] = i
    return None
