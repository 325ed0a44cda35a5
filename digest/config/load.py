"""load_config: read the TOML file, validate it, and resolve everything once (the only I/O
in config: the file, the password variable, the CA file and the templates folder)."""

from __future__ import annotations

import os
import ssl
import tomllib
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from digest.config.messages import config_error
from digest.config.models import Settings, SubscriberSettings, duplicate_email, duplicate_name
from digest.config.values import Config, resolve_location, resolve_path
from digest.errors import ConfigError
from digest.installed import DRIVERS, SEMANTIC, installed
from digest.models import Subscriber
from digest.schedule import Slot

Subscribers = tuple[tuple[Subscriber, ...], tuple[Slot, ...]]


def _problem(message: str) -> dict[str, Any]:
    """A whole-file rule's problem, as pydantic reports a model validator's ValueError."""
    return {"type": "value_error", "loc": (), "msg": message, "input": None}


def parse_settings(data: dict[str, Any], path: Path) -> tuple[Settings, Subscribers]:
    """Validate parsed TOML; raise ConfigError naming the first bad key.

    Subscribers are validated one at a time and turned into `Subscriber` values as they go,
    each parsed entry dropped once read: a 100,000-subscriber file never holds the parsed
    TOML, a validated model per subscriber and the values all at once. Problems are reported
    as validating the whole file in one model would. Takes the subscribers out of `data`."""
    raw = data.pop("subscribers", None)
    entries = raw if isinstance(raw, list) else None
    if raw is not None and entries is None:
        data["subscribers"] = raw  # not a list: the model says what was expected
    errors: list[Any] = []
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(data)
    except ValidationError as exc:
        errors.extend(exc.errors())
    if raw is None:
        errors.append({"type": "missing", "loc": ("subscribers",), "msg": "", "input": data})
    elif entries is not None and not entries:
        errors.append(
            {"type": "too_short", "loc": ("subscribers",), "msg": "", "input": [], "ctx": {}}
        )
    subs: list[Subscriber] = []
    slots: list[Slot] = []
    shared: dict[Slot, Slot] = {}  # most subscribers share a schedule: one object each
    for i, entry in enumerate(entries or ()):
        entries[i] = None  # type: ignore[index]  # read once; its memory goes to the next
        try:
            sub = SubscriberSettings.model_validate(entry)
        except ValidationError as exc:
            errors.extend({**e, "loc": ("subscribers", i, *e["loc"])} for e in exc.errors())
            continue
        if settings is not None and not errors:
            subscriber, slot = _subscriber(sub, settings)
            subs.append(subscriber)
            slots.append(shared.setdefault(slot, slot))
    if settings is not None and not errors:
        names, emails = [s.name for s in subs], [s.email for s in subs]
        problem = duplicate_name("subscribers", names) or duplicate_email(names, emails)
        if problem:
            errors.append(_problem(problem))
    if errors or settings is None:
        raise config_error(errors, path)
    return settings, (tuple(subs), tuple(slots))


def _fail(path: Path, key: str, what: str) -> ConfigError:
    return ConfigError(f"{path}: {key}: {what}", path=str(path), key=key)


def _tls(settings: Settings, path: Path) -> ssl.SSLContext | None:
    smtp = settings.smtp
    if smtp.security == "none":
        return None
    if smtp.ca_file is None:
        return ssl.create_default_context()
    ca = resolve_path(path.parent, smtp.ca_file)
    try:
        return ssl.create_default_context(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise _fail(path, "smtp.ca_file", f"cannot load {ca}: {exc}") from None


def _subscriber(s: SubscriberSettings, settings: Settings) -> tuple[Subscriber, Slot]:
    base = settings.schedule
    subscriber = Subscriber(
        name=s.name,
        email=s.email,
        keywords=s.keywords,
        max_papers=s.max_papers,
        exclude=s.exclude,
        authors=s.authors,
        categories=s.categories,
        min_score=s.min_score,
        liked=s.like,
    )
    slot = Slot(
        at=s.time or base.time,
        zone=s.timezone or base.timezone,
        days=tuple(s.days or base.days),
        cadence=s.cadence,
        weekly_day=s.weekly_day,
    )
    return subscriber, slot


def _check_store_url(url: str, path: Path) -> None:
    """An SQLAlchemy URL for SQLite or PostgreSQL, else ConfigError naming store.url."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        backend = make_url(url).get_backend_name()
    except (ArgumentError, ValueError):
        raise _fail(
            path,
            "store.url",
            f"expected a database URL like 'postgresql+psycopg://user@host/db' or "
            f"'sqlite:////var/lib/digest/state.sqlite3', found {url!r}",
        ) from None
    if backend not in ("sqlite", "postgresql"):
        raise _fail(
            path, "store.url", f"expected an SQLite or PostgreSQL URL, found a {backend!r} one"
        )
    if backend == "postgresql":
        driver = make_url(url).get_driver_name()
        if driver not in DRIVERS:
            raise _fail(
                path,
                "store.url",
                f"expected the psycopg driver ('postgresql+psycopg://...'), found {driver!r}",
            )
        module, command = DRIVERS[driver]
        if not installed((module,)):
            raise _fail(
                path, "store.url", f"the {driver} driver is not installed; install it: {command}"
            )


def _with_password(url: str, env: str, path: Path) -> str:
    """The store URL with the password read from the environment (never from the file)."""
    from sqlalchemy.engine import make_url

    password = os.environ.get(env)
    if password is None:
        raise _fail(path, "store.password_env", f"environment variable {env} is not set")
    return make_url(url).set(password=password).render_as_string(hide_password=False)


def resolve(settings: Settings, path: Path, people: Subscribers) -> Config:
    """Config values from validated settings: paths against the config's folder, the
    password from the environment, the TLS context; ConfigError for what cannot be used."""
    base = path.parent
    store = settings.store
    store_url = store.url if store.url else f"sqlite:///{resolve_path(base, store.path)}"
    if store.url:
        _check_store_url(store.url, path)
        if store.password_env:
            store_url = _with_password(store.url, store.password_env, path)
    templates = None
    if settings.email.templates:
        templates = resolve_path(base, settings.email.templates)
        if not templates.is_dir():
            raise _fail(path, "email.templates", f"no such folder: {templates}")
    password = missing = None
    env = settings.smtp.password_env
    if env:
        password = os.environ.get(env)
        missing = env if password is None else None
    sources = tuple(
        s.model_copy(update={"url": resolve_location(base, s.url)}) if s.url else s
        for s in settings.sources
    )
    subscribers, slots = people
    ranking = settings.ranking
    model_dir = None
    if ranking.model:
        model_dir = resolve_path(base, ranking.model)
        for name in ("model.onnx", "tokenizer.json"):
            if not (model_dir / name).is_file():
                raise _fail(path, "ranking.model", f"expected a folder with {name}: {model_dir}")
    semantic = installed(SEMANTIC) if ranking.semantic == "auto" else ranking.semantic
    web_secret = secret_problem = None
    if settings.web is not None:
        # checked by the commands that sign or check links (Config.link_secret), so that
        # `status` or `subscribers` do not ask for it
        secret = os.environ.get(settings.web.secret_env, "")
        if len(secret) < 16:
            found = "it is not set" if not secret else f"it has {len(secret)} characters"
            secret_problem = (
                f"expected environment variable {settings.web.secret_env} to hold a secret of "
                f"at least 16 characters (it signs subscriber links); {found}"
            )
        else:
            web_secret = secret.encode("utf-8")
    # asked for by the commands that serve /metrics (Config.require_metrics_token) only
    metrics_env = settings.web.metrics_token_env if settings.web is not None else None
    metrics_token = os.environ.get(metrics_env) or None if metrics_env else None
    imap_env = settings.bounces.password_env
    imap_password = os.environ.get(imap_env) if imap_env else None
    return Config(
        path=path,
        settings=settings,
        store_url=store_url,
        outbox=resolve_path(base, settings.email.outbox),
        templates=templates,
        sources=sources,
        subscribers=subscribers,
        slots=slots,
        semantic=semantic,
        model_dir=model_dir,
        tls_context=_tls(settings, path),
        password=password,
        password_missing=missing,
        web_secret=web_secret,
        secret_missing=secret_problem,
        metrics_token=metrics_token,
        metrics_token_missing=metrics_env if metrics_env and metrics_token is None else None,
        imap_password=imap_password,
        imap_password_missing=imap_env if imap_env and imap_password is None else None,
    )


def load_config(path: str | Path) -> Config:
    """Read, parse, validate and resolve the config file at `path`."""
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
    settings, people = parse_settings(data, p)
    return resolve(settings, p, people)
