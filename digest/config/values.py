"""Config: the validated settings and everything resolved from them once (paths, secret,
TLS context, subscribers, schedules); frozen, and nothing in it reads files or the
environment after loading."""

from __future__ import annotations

import re
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from digest.config.models import Settings
from digest.errors import ConfigError
from digest.models import StoreTimeouts, Subscriber
from digest.schedule import Slot
from digest.sources.base import SourceSettings


def split_listen(listen: str) -> tuple[str, int]:
    """'127.0.0.1:8080' -> ('127.0.0.1', 8080); '[::1]:80' -> ('::1', 80)."""
    host, _, port = listen.rpartition(":")
    return host.strip("[]"), int(port)


def resolve_path(base: Path, value: str) -> Path:
    """A path written in the config (``~`` expanded), relative to the config's folder."""
    p = Path(value).expanduser()
    return p if p.is_absolute() else base / p


def resolve_location(base: Path, url: str) -> str:
    """A source location: a relative local path made absolute; URLs left as written."""
    if re.match(r"^[a-zA-Z][a-zA-Z0-9+.-]*://", url):
        return url
    return str(resolve_path(base, url))


@dataclass(frozen=True)
class Config:
    """A validated config with every path resolved against the config file's folder."""

    path: Path
    settings: Settings
    store_url: str
    outbox: Path
    templates: Path | None
    sources: tuple[SourceSettings, ...]
    subscribers: tuple[Subscriber, ...]
    slots: tuple[Slot, ...]
    semantic: bool = False  # [ranking] semantic resolved: "auto" is on when the extra is installed
    model_dir: Path | None = None
    tls_context: ssl.SSLContext | None = None
    password: str | None = None
    password_missing: str | None = None  # the unset variable [smtp] password_env names
    web_secret: bytes | None = None  # [web] secret_env's value: signs subscriber links
    secret_missing: str | None = None  # why [web] secret_env's value cannot be used
    metrics_token: str | None = None  # [web] metrics_token_env's value
    metrics_token_missing: str | None = None  # the unset variable it names
    imap_password: str | None = None  # [bounces] password_env's value
    imap_password_missing: str | None = None  # the unset variable it names

    @property
    def base(self) -> Path:
        """The folder relative paths in the config are resolved against."""
        return self.path.parent

    def resolve(self, value: str) -> Path:
        """Resolve a path written in the config (``~`` expanded) against the config's folder."""
        return resolve_path(self.base, value)

    def source_location(self, url: str) -> str:
        """Make a relative local path absolute; leave http(s) and file URLs alone."""
        return resolve_location(self.base, url)

    @property
    def store_timeouts(self) -> StoreTimeouts:
        """How long the store may wait ([store] *_timeout)."""
        store = self.settings.store
        return StoreTimeouts(
            store.connect_timeout,
            store.lock_timeout,
            store.statement_timeout,
            idle_in_transaction=store.failover_seconds,
        )

    def slot(self, index: int) -> Slot:
        """Subscriber `index`'s send schedule: their overrides over [schedule]."""
        return self.slots[index]

    def _refuse(self, key: str, problem: str) -> ConfigError:
        """The error for a value the config names but cannot be used (an unset variable)."""
        return ConfigError(f"{self.path}: {key}: {problem}", path=str(self.path), key=key)

    def smtp_password(self) -> str | None:
        """The SMTP password read at load time; ConfigError when the variable was unset."""
        if self.password_missing:
            unset = f"environment variable {self.password_missing} is not set"
            raise self._refuse("smtp.password_env", unset)
        return self.password

    def bounce_password(self) -> str | None:
        """The bounce mailbox's password; ConfigError when its variable was unset."""
        if self.imap_password_missing:
            unset = f"environment variable {self.imap_password_missing} is not set"
            raise self._refuse("bounces.password_env", unset)
        return self.imap_password

    def require_metrics_token(self) -> Config:
        """This config, or ConfigError when [web] metrics_token_env names an unset variable:
        the commands that serve /metrics call it (an open /metrics is never the fallback)."""
        if self.metrics_token_missing:
            unset = f"environment variable {self.metrics_token_missing} is not set"
            raise self._refuse("web.metrics_token_env", unset)
        return self

    def require_link_secret(self) -> Config:
        """This config, or ConfigError when [web] is set and its secret cannot be used: the
        commands that sign or check links call it."""
        if self.secret_missing:
            raise self._refuse("web.secret_env", self.secret_missing)
        return self

    def narrowed(
        self, members: Sequence[int], *, sources: tuple[SourceSettings, ...] | None = None
    ) -> Config:
        """The same config for the subscribers at `members` only (and other sources)."""
        return replace(
            self,
            subscribers=tuple(self.subscribers[i] for i in members),
            slots=tuple(self.slots[i] for i in members),
            sources=self.sources if sources is None else sources,
        )
