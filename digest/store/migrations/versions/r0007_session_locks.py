"""Schema 7: instances share a run through locks their database sessions hold, not leases:
the claims table and the lease column go; a run is split into chunks of subscribers and
each finished chunk is a row. Times come from the database's clock."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))


def upgrade() -> None:
    """Replace group_runs and claims (only in-flight coordination: nothing to carry over);
    record schema version 7."""
    op.drop_table("claims")
    op.drop_table("group_runs")
    op.create_table(
        "group_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("group_key", sa.String(64), nullable=False, index=True),
        sa.Column("label", sa.Text, nullable=False),
        sa.Column("fire", sa.String(32)),
        sa.Column("run_at", sa.String(32), nullable=False),
        sa.Column("leader", sa.String(255), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("cursor", sa.Integer),
        sa.Column("chunk_size", sa.Integer),
        sa.Column("chunks", sa.Integer),
        sa.Column("started", sa.Float, nullable=False),
        sa.Column("finished", sa.Float),
    )
    op.create_table(
        "run_chunks",
        sa.Column("run_id", sa.Integer, primary_key=True),
        sa.Column("chunk", sa.Integer, primary_key=True),
        sa.Column("instance", sa.String(255), nullable=False),
        sa.Column("subscribers", sa.Integer, nullable=False),
        sa.Column("finished", sa.Float, nullable=False),
    )
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="7"))


def downgrade() -> None:
    """Back to schema 6's tables (empty: they only ever held in-flight runs)."""
    op.drop_table("run_chunks")
    op.drop_table("group_runs")
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
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="6"))
