"""Schema 2: cached paper embeddings for the semantic ranking."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


_meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def _version(value: str) -> None:
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value=value))


def upgrade() -> None:
    """Add the embeddings table and record schema version 2."""
    op.create_table(
        "embeddings",
        sa.Column("paper_id", sa.String(255), primary_key=True),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    _version("2")


def downgrade() -> None:
    """Drop the embeddings table."""
    op.drop_table("embeddings")
    _version("1")
