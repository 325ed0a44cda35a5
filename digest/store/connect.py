"""How each database's connections are opened: the bounds on every wait they may make."""

from __future__ import annotations

import math
from typing import Any

from digest.models import StoreTimeouts


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
