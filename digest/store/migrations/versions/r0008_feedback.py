"""Schema 8: what subscribers said about papers ("more like this" +1, "less like this" -1),
the latest click per paper."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    """Create feedback; record schema version 8."""
    op.create_table(
        "feedback",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("paper_id", sa.String(255), primary_key=True),
        sa.Column("value", sa.Integer, nullable=False),
        sa.Column("at", sa.String(32), nullable=False),
    )
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="8"))


def downgrade() -> None:
    """Drop it."""
    op.drop_table("feedback")
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="7"))
