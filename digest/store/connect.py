"""How a store is reached: the file an SQLite URL names, a URL fit to print, the database's
failures in one line, and the bounds on every wait a connection may make."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from digest.models import StoreTimeouts


def sqlite_file(url: str) -> Path | None:
    """The database file of an SQLite URL (None for other databases and :memory:)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        return Path(str(parsed.database))
    return None


def store_exists(url: str) -> bool:
    """False only for an SQLite store whose file does not exist yet (no run so far)."""
    path = sqlite_file(url)
    return path is None or path.exists()


def one_line(exc: BaseException) -> str:
    """The database's own words for a failure: no SQL, parameters or help links."""
    inner = getattr(exc, "orig", None) or exc
    text = str(inner).split("\n")[0]
    return text.split("(Background on this error")[0].strip() or type(inner).__name__


def safe_url(url: str) -> str:
    """A store URL fit for an error message: any password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # an unparsable URL has nothing to hide
        return url


def connect_args(dialect: str, timeouts: StoreTimeouts, *, rollback: bool) -> dict[str, Any]:
    """What bounds every wait of a connection: to connect, for a lock, for a statement; and
    (PostgreSQL) TCP keepalives and an idle-in-transaction limit, so the server notices a
    dead or stalled client and frees the row locks its session held (not in rollback mode:
    a dry-run's one transaction sits idle while it fetches)."""
    if dialect == "sqlite":
        return {"timeout": timeouts.lock}
    if dialect != "postgresql":
        return {}
    options = [f"-c lock_timeout={int(timeouts.lock * 1000)}"]
    if not rollback:
        idle = int(timeouts.idle_in_transaction * 1000)
        options.append(f"-c idle_in_transaction_session_timeout={idle}")
    if timeouts.statement is not None:
        options.append(f"-c statement_timeout={int(timeouts.statement * 1000)}")
    return {
        "connect_timeout": max(2, math.ceil(timeouts.connect)),  # libpq: whole seconds, >= 2
        "keepalives": 1,
        "keepalives_idle": 10,
        "keepalives_interval": 5,
        "keepalives_count": 3,
        # unanswered data (a half-open connection) fails after this, not after TCP's minutes
        "tcp_user_timeout": int(max(timeouts.idle_in_transaction, timeouts.connect) * 1000),
        "options": " ".join(options),
    }
