"""Schema 1: papers, sightings, feed state, the delivery ledger and run reports."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Create the first tables and record schema version 1."""
    meta = op.create_table(
        "meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "papers",
        sa.Column("id", sa.String(255), primary_key=True),
        sa.Column("version", sa.Integer),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("link", sa.Text, nullable=False),
        sa.Column("authors", sa.Text, nullable=False),
        sa.Column("abstract", sa.Text, nullable=False),
        sa.Column("categories", sa.Text, nullable=False),
        sa.Column("announce_type", sa.String(32)),
        sa.Column("doi", sa.Text),
        sa.Column("journal_ref", sa.Text),
        sa.Column("published", sa.String(32)),
        sa.Column("upvotes", sa.Integer),
        sa.Column("comments", sa.Integer),
        sa.Column("github", sa.Text),
        sa.Column("project_page", sa.Text),
        sa.Column("ai_summary", sa.Text),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("first_seen", sa.String(32), nullable=False),
        sa.Column("updated", sa.String(32), nullable=False),
    )
    op.create_index("ix_papers_first_seen", "papers", ["first_seen"])
    op.create_table(
        "sightings",
        sa.Column("paper_id", sa.String(255), primary_key=True),
        sa.Column("source", sa.String(255), primary_key=True),
        sa.Column("announce_type", sa.String(32)),
        sa.Column("version", sa.Integer),
        sa.Column("seen_at", sa.String(32), nullable=False),
    )
    op.create_table(
        "feed_state",
        sa.Column("source", sa.String(255), primary_key=True),
        sa.Column("etag", sa.Text),
        sa.Column("last_modified", sa.Text),
        sa.Column("batch", sa.String(32)),
        sa.Column("checked", sa.String(32), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("subscriber", sa.String(320), primary_key=True),
        sa.Column("paper_id", sa.String(255), primary_key=True),
        sa.Column("run_at", sa.String(32), nullable=False),
        sa.Column("sent_at", sa.String(32), nullable=False),
        sa.Column("message_id", sa.Text, nullable=False),
    )
    op.create_table(
        "runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("started", sa.String(32), nullable=False),
        sa.Column("finished", sa.String(32), nullable=False),
        sa.Column("dry_run", sa.Integer, nullable=False),
        sa.Column("report", sa.Text, nullable=False),
    )
    op.bulk_insert(meta, [{"key": "schema_version", "value": "1"}])


def downgrade() -> None:
    """Drop everything schema 1 created."""
    for table in ("runs", "deliveries", "feed_state", "sightings", "papers", "meta"):
        op.drop_table(table)
