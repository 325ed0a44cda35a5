"""The state store: ``schema`` (tables as queried), ``migrations`` (Alembic revisions) and
``migrate``, ``papers`` (ingest, candidate windows, embeddings), ``ledger`` (what was sent to
whom), ``runs`` (feed state, run reports), ``sqlite`` (pragmas, run lock, dry-run copy) and
``store.Store``, which wraps each call in one transaction. SQLite by default; any SQLAlchemy
URL (PostgreSQL via psycopg) through `[store] url`.
"""

from __future__ import annotations

from digest.store.connect import store_exists
from digest.store.migrate import SCHEMA_VERSION
from digest.store.store import Store, dry_run_copy

__all__ = ["SCHEMA_VERSION", "Store", "dry_run_copy", "store_exists"]
