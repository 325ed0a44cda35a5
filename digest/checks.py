"""`digest check`: every check a run depends on, tried without sending or storing: secrets,
the [smtp] table, each source, the store, the templates, the bounce mailbox's login; the SMTP
login on request."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from digest.config.values import Config
from digest.errors import DigestError
from digest.store.connect import sqlite_file

SMTP_SECONDS = 10  # connect, EHLO, STARTTLS and login together


@dataclass(frozen=True)
class Check:
    """One thing a run needs: what it is, and either what was found or what to fix."""

    what: str
    found: str = ""
    problem: str | None = None
    warning: str | None = None  # worth knowing, not a failure

    @property
    def ok(self) -> bool:
        """Whether a run can count on it."""
        return self.problem is None


def secrets(config: Config, *, dry_run: bool) -> list[Check]:
    """Every `*_env` variable the config names is set (the store's is read at load)."""
    out = []
    smtp_env = config.settings.smtp.password_env
    if smtp_env and not dry_run:
        if config.password_missing:
            out.append(
                Check("smtp.password_env", problem=f"set the environment variable {smtp_env}")
            )
        else:
            out.append(Check("smtp.password_env", f"{smtp_env} is set"))
    web = config.settings.web
    if web is not None:
        problem = config.secret_missing
        out.append(Check("web.secret_env", f"{web.secret_env} is set", problem))
        if web.metrics_token_env:
            env = web.metrics_token_env
            unset = config.metrics_token_missing
            problem = f"set the environment variable {env}" if unset else None
            out.append(Check("web.metrics_token_env", f"{env} is set", problem))
    bounces = config.settings.bounces
    if bounces.host and bounces.password_env and not dry_run:
        env = bounces.password_env
        problem = f"set the environment variable {env}" if config.imap_password_missing else None
        out.append(Check("bounces.password_env", f"{env} is set", problem))
    return out


def smtp_table(config: Config, *, dry_run: bool) -> list[Check]:
    """A real send needs an [smtp] table (its defaults are only right for a local relay)."""
    if dry_run:
        return []
    if "smtp" not in config.settings.model_fields_set:
        fix = "add an [smtp] table (host, port, security, username, password_env)"
        return [Check("smtp", problem=f"no [smtp] table: {fix}, or use --dry-run")]
    smtp = config.settings.smtp
    return [Check("smtp", f"{smtp.host}:{smtp.port} ({smtp.security})")]


def store(config: Config) -> Check:
    """The store opens and takes a write, rolled back; a new SQLite store's folder can be
    created (nothing is created by checking)."""
    from digest.store import Store

    path = sqlite_file(config.store_url)
    if path is not None and not path.exists():
        folder = path.parent
        while not folder.exists():
            folder = folder.parent
        if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
            return Check(
                "store", problem=f"cannot create {path}: {folder} is not a writable folder"
            )
        return Check("store", f"{path} (created by the first run)")
    try:
        held = Store(config.store_url, rollback=True, timeouts=config.store_timeouts)
    except DigestError as exc:
        return Check("store", problem=str(exc))
    try:
        held.writable()
    except DigestError as exc:
        return Check("store", problem=str(exc))
    finally:
        held.close()
    return Check("store", f"{held.where} opens and takes writes")


def seeds(config: Config) -> list[Check]:
    """Seed papers (`like`) need the hybrid ranking; one not in the store yet is looked up
    by the next run (a warning here, never a failure)."""
    wanted = sorted({pid for s in config.subscribers for pid in s.liked})
    if not wanted:
        return []
    if not config.semantic:
        why = "liked papers need the semantic extra: python -m pip install -e '.[semantic]'"
        return [Check("like", warning=why)]
    from digest.state import existing_store

    with existing_store(config) as held:
        known = {pid for pid in wanted if held is not None and held.paper(pid) is not None}
    return [
        Check(f"like {pid}", "in the store")
        if pid in known
        else Check(f"like {pid}", warning="not in the store yet: the next run looks it up")
        for pid in wanted
    ]


def templates(config: Config) -> Check:
    """Both digest templates load (user templates first, then the bundled ones)."""
    from jinja2 import TemplateError

    from digest.mail.render import make_environment

    env = make_environment(config.templates)
    try:
        for name in ("digest.html", "digest.txt"):
            env.get_template(name)
    except TemplateError as exc:
        where = config.templates or "the bundled templates"
        return Check("templates", problem=f"{where}: {type(exc).__name__}: {exc}")
    return Check("templates", str(config.templates or "bundled"))


async def sources(config: Config, *, now: datetime) -> list[Check]:
    """Each source fetched once (local files read) through a run's decider; nothing stored."""
    from digest import app

    return [
        Check(f"source {r.name}", f"{r.papers} papers", r.error)
        for r in await app.check_sources(config, now=now)
    ]


async def smtp_login(config: Config) -> Check:
    """Connect, EHLO, TLS and login as configured, without MAIL FROM, within SMTP_SECONDS."""
    from digest import app

    try:
        async with asyncio.timeout(SMTP_SECONDS):
            return Check("smtp login", await app.check_smtp(config))
    except TimeoutError:
        return Check("smtp login", problem=f"no answer within {SMTP_SECONDS} s")
    except DigestError as exc:
        return Check("smtp login", problem=str(exc))


def bounce_mailbox(config: Config) -> Check:
    """The [bounces] mailbox: login and its folder (blocking: run it in a thread)."""
    from digest.bounces.mailbox import Mailbox

    try:
        with Mailbox(config) as box:
            waiting = len(box.unprocessed())
    except DigestError as exc:
        return Check("bounces", problem=str(exc))
    s = config.settings.bounces
    return Check("bounces", f"{s.host}:{s.port} folder {s.folder!r}: {waiting} not yet read")


async def run_checks(
    config: Config,
    *,
    now: datetime,
    dry_run: bool = False,
    login: bool = False,
    report: Callable[[Check], None] | None = None,
) -> list[Check]:
    """Every check, in the order a run meets them; `report` sees each as it is done."""
    done: list[Check] = []

    async def add(found: list[Check]) -> None:
        for check in found:
            done.append(check)
            if report is not None:
                report(check)

    await add(secrets(config, dry_run=dry_run))
    await add(smtp_table(config, dry_run=dry_run))
    if login and not dry_run:
        await add([await smtp_login(config)])
    bounces = config.settings.bounces
    if bounces.host and not dry_run and not config.imap_password_missing:
        await add([await asyncio.to_thread(bounce_mailbox, config)])
    await add([templates(config)])
    await add([await asyncio.to_thread(store, config)])
    await add(await asyncio.to_thread(seeds, config))
    await add(await sources(config, now=now))
    return done
