"""Schema 5: shared runs for several instances on one database: a row per run of a schedule
group (who leads it, its lease, the candidate cursor every instance ranks with) and a claim
per subscriber of that run (who holds it until when, and whether it is done)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    """Create group_runs and claims; record schema version 5."""
    op.create_table(
        "group_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(64), nullable=False),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("fire", sa.String(32)),
        sa.Column("run_at", sa.String(32), nullable=False),
        sa.Column("leader", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False),
        sa.Column("cursor", sa.Integer),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("finished", sa.Float),
    )
    op.create_index("ix_group_runs_group_key", "group_runs", ["group_key", "state"])
    op.create_table(
        "claims",
        sa.Column("run_id", sa.Integer, primary_key=True),
        sa.Column("subscriber", sa.String(320), primary_key=True),
        sa.Column("position", sa.Integer, nullable=False),
        sa.Column("claimed_by", sa.String(255)),
        sa.Column("lease_until", sa.Float),
        sa.Column("done", sa.Integer, nullable=False, server_default="0"),
        sa.Column("outcome", sa.String(16)),
        sa.Column("done_by", sa.String(255)),
    )
    op.create_index("ix_claims_open", "claims", ["run_id", "done", "position"])
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="5"))


def downgrade() -> None:
    """Drop the shared-run tables."""
    op.drop_table("claims")
    op.drop_table("group_runs")
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="4"))
