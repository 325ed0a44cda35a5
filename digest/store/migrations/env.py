"""Alembic environment: migrate the connection the store passes in `config.attributes`."""

from __future__ import annotations

from alembic import context

connection = context.config.attributes["connection"]
# transactional on SQLite too: the store's connections BEGIN themselves (digest.store.sqlite),
# so a first migration killed halfway leaves no table behind
context.configure(connection=connection, render_as_batch=True, transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
