"""Schema 6: what subscribers say through their links (opt-outs, which override the config)
and the sent digests' HTML for "View in browser"."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    """Create opt_outs and pages; record schema version 6."""
    op.create_table(
        "opt_outs",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("since", sa.String(32), nullable=False),
        sa.Column("via", sa.String(32), nullable=False),
    )
    op.create_table(
        "pages",
        sa.Column("message_id", sa.String(255), primary_key=True),
        sa.Column("subscriber", sa.String(320), nullable=False),
        sa.Column("sent_at", sa.String(32), nullable=False, index=True),
        sa.Column("html", sa.LargeBinary, nullable=False),
    )
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="6"))


def downgrade() -> None:
    """Drop them."""
    op.drop_table("pages")
    op.drop_table("opt_outs")
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="5"))
