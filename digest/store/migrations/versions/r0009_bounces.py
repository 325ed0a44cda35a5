"""Schema 9: bounces (each hard or soft failure an address met, once per bounce message or
refusal) and paused addresses (not mailed until an operator resumes them)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    """Create bounces and paused; record schema version 9."""
    op.create_table(
        "bounces",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("ref", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("via", sa.String(8), nullable=False),
        sa.Column("at", sa.String(32), nullable=False, index=True),
    )
    op.create_table(
        "paused",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("since", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="9"))


def downgrade() -> None:
    """Drop them."""
    op.drop_table("paused")
    op.drop_table("bounces")
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="8"))
