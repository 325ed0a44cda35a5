"""Schema 3: cached keyword embeddings, so a keyword is embedded once, not every run."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def _version(value: str) -> None:
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value=value))


def upgrade() -> None:
    """Add the keyword_embeddings table and record schema version 3."""
    op.create_table(
        "keyword_embeddings",
        sa.Column("keyword", sa.Text, primary_key=True),
        sa.Column("model", sa.String(64), primary_key=True),
        sa.Column("vector", sa.LargeBinary, nullable=False),
    )
    _version("3")


def downgrade() -> None:
    """Drop the keyword_embeddings table."""
    op.drop_table("keyword_embeddings")
    _version("2")
