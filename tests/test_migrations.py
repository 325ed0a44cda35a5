"""Alembic migrations: a fresh store and one written before Alembic end in the same schema;
a store from a newer Paper Digest is refused."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, inspect

from digest.errors import StoreError
from digest.store import SCHEMA_VERSION, Store
from digest.store.migrate import HEAD
from tests.conftest import DATA

LEGACY = DATA / "legacy-v2.sqlite3"  # written by the release before Alembic (schema 2)


def schema(path: Path) -> dict[str, Any]:
    """Every table's columns (name, type, nullability, key), indexes and primary key."""
    engine = create_engine(f"sqlite:///{path}")
    seen = inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(seen.get_table_names()):
        out[table] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"], c.get("primary_key"))
                for c in seen.get_columns(table)
            ],
            "indexes": sorted(
                (i["name"], tuple(i["column_names"])) for i in seen.get_indexes(table)
            ),
            "pk": seen.get_pk_constraint(table)["constrained_columns"],
        }
    engine.dispose()
    return out


def test_fresh_and_upgraded_stores_end_in_the_same_schema(tmp_path: Path) -> None:
    """A store made by the release before Alembic is adopted and keeps its data; its schema
    then equals a fresh store's, table by table and column by column."""
    fresh = tmp_path / "fresh.sqlite3"
    Store.sqlite(fresh).close()
    old = tmp_path / "old.sqlite3"
    shutil.copy(LEGACY, old)
    store = Store.sqlite(old)
    assert store.schema_version() == SCHEMA_VERSION
    assert store.sent_ids("x@y.org") == {"arxiv:2509.11992"}
    legacy_paper = store.paper("arxiv:2509.11992")
    assert legacy_paper is not None and legacy_paper.upvotes == 3
    store.close()
    assert schema(old) == schema(fresh)
    assert "alembic_version" in schema(fresh)
    with sqlite3.connect(old) as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [(HEAD,)]


def test_opening_a_current_store_changes_nothing(tmp_path: Path) -> None:
    """A store already at the newest revision is opened without rewriting a byte."""
    path = tmp_path / "s.sqlite3"
    Store.sqlite(path).close()
    with sqlite3.connect(path) as db:
        db.execute("pragma wal_checkpoint(TRUNCATE)")
    before = path.read_bytes()
    Store.sqlite(path).close()
    assert path.read_bytes() == before


def test_a_revision_from_a_newer_release_is_refused(tmp_path: Path) -> None:
    """An Alembic revision this package does not know means a newer release wrote the store:
    refused with words that say to upgrade, and the store is left as it was."""
    path = tmp_path / "s.sqlite3"
    Store.sqlite(path).close()
    with sqlite3.connect(path) as db:
        db.execute("update alembic_version set version_num = '0099'")
    with pytest.raises(StoreError, match="newer than this Paper Digest understands"):
        Store.sqlite(path)
    with sqlite3.connect(path) as db:
        assert db.execute("select version_num from alembic_version").fetchall() == [("0099",)]
