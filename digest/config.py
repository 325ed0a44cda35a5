"""Load and validate the TOML config; resolve paths against its folder; read secrets from env."""

from __future__ import annotations

import datetime as dt
import os
import re
import ssl
import tomllib
from dataclasses import dataclass
from email.utils import parseaddr
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from digest.errors import ConfigError
from digest.models import Subscriber
from digest.schedule import Slot
from digest.sources.arxiv import CATEGORY as ARXIV_CATEGORY

_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_EMAIL = re.compile(rf"^[A-Za-z0-9.!#$%&'*+/=?^_`{{|}}~-]+@{_LABEL}(?:\.{_LABEL})+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u2028\u2029]")


def _no_control(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError(f"control characters (CR, LF, ...) are not allowed, found {value!r}")
    return value


def validate_email(value: str) -> str:
    """`value` if it is a plain email address, else ValueError saying what was found."""
    return _email(value)


def _email(value: str) -> str:
    _no_control(value)
    if not _EMAIL.match(value):
        raise ValueError(f"expected an email address like name@example.org, found {value!r}")
    return value


def _sender(value: str) -> str:
    _no_control(value)
    _, addr = parseaddr(value)
    if not addr or not _EMAIL.match(addr):
        raise ValueError(f"expected 'Name <address@example.org>' or an address, found {value!r}")
    return value


def _unsubscribe(value: str) -> str:
    _no_control(value)
    if not re.match(r"^(mailto:[^\s<>]+@[^\s<>]+|https?://[^\s<>]+)$", value, re.I):
        raise ValueError(f"expected a mailto: or http(s):// URL, found {value!r}")
    return value


def _tuple(value: Any) -> Any:
    return tuple(value) if isinstance(value, list) else value


Text = Annotated[str, AfterValidator(_no_control)]
Email = Annotated[str, AfterValidator(_email)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


class StoreSettings(_Strict):
    """Where state lives: a SQLite path (relative to the config) or an SQLAlchemy URL."""

    path: Text = "state/digest.sqlite3"
    url: Text | None = None


class EmailSettings(_Strict):
    """Envelope and presentation settings shared by every digest."""

    sender: Annotated[str, AfterValidator(_sender)]
    outbox: Text = "outbox"
    templates: Text | None = None
    lookback_days: int = Field(default=7, ge=1, le=365)
    unsubscribe: tuple[Annotated[str, AfterValidator(_unsubscribe)], ...] = ()
    list_id: Text | None = None

    _lists = field_validator("unsubscribe", mode="before")(_tuple)


class SmtpSettings(_Strict):
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


class FetchSettings(_Strict):
    """How politely and patiently sources are fetched."""

    contact: Email | None = None
    timeout: float = Field(default=30.0, gt=0)
    max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    retries: int = Field(default=3, ge=0, le=10)
    backoff: float = Field(default=2.0, ge=0)
    concurrency: int = Field(default=4, ge=1, le=64)


class _Source(_Strict):
    name: Text = Field(min_length=1)
    url: Text | None = None
    announce_types: tuple[Text, ...] = ("new", "cross")

    _announce = field_validator("announce_types", mode="before")(_tuple)


class FeedSource(_Source):
    """Any RSS/Atom feed: an http(s) URL, a file:// URL or a local path."""

    type: Literal["feed"] = "feed"
    url: Text = Field(min_length=1)


def _category(value: str) -> str:
    if not ARXIV_CATEGORY.match(value):
        raise ValueError(f"expected an arXiv category like 'cs.LG' or 'math', found {value!r}")
    return value


class ArxivSource(_Source):
    """arXiv's RSS listing for one or more categories."""

    type: Literal["arxiv"]
    categories: tuple[Annotated[str, AfterValidator(_category)], ...] = Field(min_length=1)

    _categories = field_validator("categories", mode="before")(_tuple)


class ArxivApiSource(_Source):
    """An arXiv API search, newest submissions first."""

    type: Literal["arxiv-api"]
    query: Text = Field(min_length=1)
    max_results: int = Field(default=50, ge=1, le=2000)


class HfDailySource(_Source):
    """Hugging Face daily papers for one day (default: the run's day, UTC)."""

    type: Literal["hf-daily"]
    date: dt.date | None = None

    @field_validator("date", mode="before")
    @classmethod
    def _parse_date(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return dt.date.fromisoformat(value)
            except ValueError:
                raise ValueError(f"expected a date like 2025-09-16, found {value!r}") from None
        return value


class HfTrendingSource(_Source):
    """Hugging Face trending papers."""

    type: Literal["hf-trending"]


SourceSettings = Annotated[
    FeedSource | ArxivSource | ArxivApiSource | HfDailySource | HfTrendingSource,
    Field(discriminator="type"),
]
SOURCE_TYPES = ("feed", "arxiv", "arxiv-api", "hf-daily", "hf-trending")


def _clock(value: Any) -> Any:
    if isinstance(value, dt.time):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{1,2}:\d{2}(:\d{2})?", value):
        try:
            return dt.time.fromisoformat(value if len(value.split(":")[0]) == 2 else "0" + value)
        except ValueError:
            pass
    raise ValueError(f'expected a time like "07:30", found {value!r}')


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"expected an IANA time zone like 'Europe/Berlin', found {value!r}"
        ) from None
    return value


Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
Clock = Annotated[dt.time, BeforeValidator(_clock)]
Zone = Annotated[str, AfterValidator(_zone)]


class ScheduleSettings(_Strict):
    """Default send time, time zone and weekdays (subscribers may override each)."""

    time: Clock = dt.time(7, 30)
    timezone: Zone = "UTC"
    days: tuple[Day, ...] = ("mon", "tue", "wed", "thu", "fri")
    misfire_grace_hours: float = Field(default=6.0, ge=0, le=48)

    _days = field_validator("days", mode="before")(_tuple)


class AlertSettings(_Strict):
    """Who hears about sources that keep failing."""

    admin_email: Email | None = None
    failures: int = Field(default=3, ge=1, le=100)


class SubscriberSettings(_Strict):
    """One person and what they want to read about."""

    name: Text = Field(min_length=1)
    email: Email
    keywords: tuple[Text, ...] = Field(min_length=1)
    max_papers: int = Field(default=10, ge=1, le=200)
    exclude: tuple[Text, ...] = ()
    authors: tuple[Text, ...] = ()
    categories: tuple[Annotated[str, AfterValidator(_category)], ...] = ()
    min_score: float = Field(default=0.0, ge=0)
    time: Clock | None = None
    timezone: Zone | None = None
    days: tuple[Day, ...] | None = None
    cadence: Literal["daily", "weekly"] = "daily"
    weekly_day: Day = "mon"

    _lists = field_validator("keywords", "exclude", "authors", "categories", mode="before")(_tuple)

    @field_validator("keywords")
    @classmethod
    def _non_blank(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(not k.strip() for k in value):
            raise ValueError("keywords must not be blank")
        return value


class RankingSettings(_Strict):
    """Ranking knobs shared by all subscribers."""

    popularity_weight: float = Field(default=0.1, ge=0, le=10)
    more: int = Field(default=20, ge=0, le=500)
    semantic: bool = False
    semantic_weight: float = Field(default=0.5, ge=0, le=10)


class Settings(_Strict):
    """The whole config file, as written."""

    store: StoreSettings = StoreSettings()
    email: EmailSettings
    smtp: SmtpSettings = SmtpSettings()
    fetch: FetchSettings = FetchSettings()
    ranking: RankingSettings = RankingSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    alerts: AlertSettings = AlertSettings()
    sources: tuple[SourceSettings, ...] = Field(min_length=1)

    @field_validator("sources", mode="before")
    @classmethod
    def _default_type(cls, value: Any) -> Any:
        if isinstance(value, list):
            return tuple(
                {"type": "feed", **item} if isinstance(item, dict) and "type" not in item else item
                for item in value
            )
        return value

    subscribers: tuple[SubscriberSettings, ...] = Field(min_length=1)

    @field_validator("subscribers", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return tuple(value) if isinstance(value, list) else value

    @model_validator(mode="after")
    def _unique_names(self) -> Settings:
        for label, names in (
            ("sources", [s.name for s in self.sources]),
            ("subscribers", [s.name for s in self.subscribers]),
        ):
            seen: set[str] = set()
            for i, name in enumerate(names):
                if name in seen:
                    raise ValueError(f"{label}[{i}].name: duplicate name {name!r}")
                seen.add(name)
        return self


@dataclass(frozen=True)
class Config:
    """A validated config with every path resolved against the config file's folder."""

    path: Path
    settings: Settings

    @property
    def base(self) -> Path:
        """The folder relative paths in the config are resolved against."""
        return self.path.parent

    def resolve(self, value: str) -> Path:
        """Resolve a path written in the config (``~`` expanded) against the config's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else self.base / p

    @property
    def store_url(self) -> str:
        """The SQLAlchemy URL of the state store."""
        store = self.settings.store
        return store.url if store.url else f"sqlite:///{self.resolve(store.path)}"

    def store_missing(self) -> bool:
        """True when the store is an SQLite file that does not exist yet (no run so far)."""
        if self.settings.store.url:
            return False
        return not self.resolve(self.settings.store.path).exists()

    @property
    def outbox(self) -> Path:
        """Where dry-run writes .eml files."""
        return self.resolve(self.settings.email.outbox)

    @property
    def templates(self) -> Path | None:
        """A user's template folder, when they restyle the email."""
        t = self.settings.email.templates
        return self.resolve(t) if t else None

    def source_location(self, url: str) -> str:
        """Make a relative local path absolute; leave http(s) and file URLs alone."""
        if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url):
            return url
        return str(self.resolve(url))

    @property
    def subscribers(self) -> tuple[Subscriber, ...]:
        """The subscribers as the core sees them."""
        return tuple(
            Subscriber(
                name=s.name,
                email=s.email,
                keywords=s.keywords,
                max_papers=s.max_papers,
                exclude=s.exclude,
                authors=s.authors,
                categories=s.categories,
                min_score=s.min_score,
            )
            for s in self.settings.subscribers
        )

    def slot(self, index: int) -> Slot:
        """Subscriber `index`'s send schedule: their overrides over [schedule]."""
        sub = self.settings.subscribers[index]
        base = self.settings.schedule
        return Slot(
            at=sub.time or base.time,
            zone=sub.timezone or base.timezone,
            days=tuple(sub.days or base.days),
            cadence=sub.cadence,
            weekly_day=sub.weekly_day,
        )

    def tls_context(self) -> ssl.SSLContext:
        """Certificate-verifying TLS settings, trusting `[smtp] ca_file` when given."""
        ca = self.settings.smtp.ca_file
        if ca is None:
            return ssl.create_default_context()
        path = self.resolve(ca)
        try:
            return ssl.create_default_context(cafile=str(path))
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"{self.path}: smtp.ca_file: cannot load {path}: {exc}",
                path=str(self.path),
                key="smtp.ca_file",
            ) from None

    def smtp_password(self) -> str | None:
        """Read the SMTP password from the environment variable the config names."""
        env = self.settings.smtp.password_env
        if not env:
            return None
        value = os.environ.get(env)
        if value is None:
            raise ConfigError(
                f"{self.path}: smtp.password_env: environment variable {env} is not set",
                path=str(self.path),
                key="smtp.password_env",
            )
        return value


def _key_path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for i, part in enumerate(loc):
        if i >= 2 and loc[i - 2] == "sources" and part in SOURCE_TYPES:
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif part.startswith(("function-", "tagged-union")):
            continue
        else:
            out += f".{part}" if out else part
    return out


def _found(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _describe(error: Any, path: Path) -> str:
    key = _key_path(tuple(error["loc"]))
    kind = error["type"]
    msg = str(error["msg"]).removeprefix("Value error, ")
    if kind == "union_tag_invalid":
        key = f"{key}.type"
        found = error.get("ctx", {}).get("tag")
        what = f"expected one of {', '.join(SOURCE_TYPES)}, found {found!r}"
    elif kind == "extra_forbidden":
        what = f"unknown key (found {_found(error['input'])})"
    elif kind == "missing":
        what = "required key is missing"
    elif kind == "value_error":
        what = msg
    else:
        what = f"{msg}, found {_found(error['input'])}"
    return f"{path}: {key}: {what}" if key else f"{path}: {what}"


def parse_settings(data: dict[str, Any], path: Path) -> Settings:
    """Validate parsed TOML; raise ConfigError naming the first bad key."""
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        raw = exc.errors()
        locs = [tuple(e["loc"]) for e in raw]
        # A bad item also fails its container (pydantic reports both); keep the specific one.
        errors = [
            e
            for e, loc in zip(raw, locs, strict=True)
            if not any(other != loc and other[: len(loc)] == loc for other in locs)
        ] or raw
        first = errors[0]
        message = _describe(first, path)
        if first["type"] == "value_error" and ": " in message and first["loc"] == ():
            message = f"{path}: {str(first['msg']).removeprefix('Value error, ')}"
        more = f" (and {len(errors) - 1} more problem(s))" if len(errors) > 1 else ""
        key = _key_path(tuple(first["loc"]))
        if first["type"] == "union_tag_invalid":
            key = f"{key}.type"
        raise ConfigError(message + more, path=str(path), key=key) from None


def load_config(path: str | Path) -> Config:
    """Read, parse and validate the config file at `path`."""
    p = Path(path).expanduser().absolute()
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{p}: config file not found", path=str(p)) from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config file: {exc.strerror}", path=str(p)) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not UTF-8 text", path=str(p)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: not valid TOML: {exc}", path=str(p)) from None
    return Config(path=p, settings=parse_settings(data, p))
