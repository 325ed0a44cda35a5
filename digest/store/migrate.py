"""Bring a database to the current schema with Alembic; adopt stores made before Alembic
(they recorded `meta.schema_version`) and refuse stores from a newer Paper Digest."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, column, func, inspect, select, table

from digest.errors import StoreError
from digest.store.schema import meta

SCHEMA_VERSION = 9
HEAD = "0009"
# meta.schema_version written by releases before Alembic -> the revision with that schema
LEGACY_REVISIONS = {1: "0001", 2: "0002"}
KNOWN = ("0001", "0002", "0003", "0004", "0005", "0006", "0007", "0008")
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _recorded(conn: Connection) -> tuple[str | None, int | None]:
    """(alembic revision, meta.schema_version) as the database records them."""
    tables = set(inspect(conn).get_table_names())
    revision = version = None
    if "alembic_version" in tables:
        versions = table("alembic_version", column("version_num"))
        revision = conn.execute(select(versions.c.version_num)).scalar()
    if "meta" in tables:
        value = conn.execute(select(meta.c.value).where(meta.c.key == "schema_version")).scalar()
        version = int(value) if value is not None else None
    return revision, version


def _newer(where: str, found: object) -> StoreError:
    return StoreError(
        f"store {where}: schema version {found} is newer than this Paper Digest understands "
        f"({SCHEMA_VERSION}); upgrade the package"
    )


def _alembic(conn: Connection, action: str, revision: str) -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    if action == "stamp":
        command.stamp(cfg, revision)
    else:
        command.upgrade(cfg, revision)


def migrate(engine: Engine, where: str) -> None:
    """Upgrade the database behind `engine` to HEAD in one transaction (nothing to do, and
    Alembic not even imported, when it is current); `where` names the store in errors. On
    SQLite the transaction holds the write lock from its start, so concurrent first opens
    take turns (and the later ones find the work done)."""
    with engine.connect() as conn:  # a look first: a current store takes no write lock
        revision, version = _recorded(conn)
    if version is not None and version > SCHEMA_VERSION:
        raise _newer(where, version)
    if revision == HEAD:
        return
    with engine.connect() as conn:
        conn = conn.execution_options(immediate=True)
        with conn.begin():
            migrate_on(conn, where)


MIGRATE_LOCK_KEY = 0x50445F4D49475241  # "PD_MIGRA": instances starting together migrate once


def migrate_on(conn: Connection, where: str) -> None:
    """`migrate` inside the caller's transaction on `conn` (PostgreSQL: DDL is transactional,
    so a rolled-back dry-run leaves no table behind)."""
    revision, version = _recorded(conn)
    if version is not None and version > SCHEMA_VERSION:
        raise _newer(where, version)
    if revision == HEAD:
        return
    if conn.dialect.name == "postgresql":  # then look again: another instance may have done it
        conn.execute(select(func.pg_advisory_xact_lock(MIGRATE_LOCK_KEY)))
    if conn.dialect.name in ("postgresql", "sqlite"):  # SQLite: BEGIN IMMEDIATE waited
        revision, version = _recorded(conn)
        if revision == HEAD:
            return
    if revision is None and version is not None:
        _alembic(conn, "stamp", LEGACY_REVISIONS[version])
    elif revision is not None and revision not in KNOWN:
        raise _newer(where, repr(revision))
    _alembic(conn, "upgrade", HEAD)


def schema_version(engine: Engine) -> int:
    """The schema version recorded in the store (0 for an empty database)."""
    with engine.connect() as conn:
        return _recorded(conn)[1] or 0
