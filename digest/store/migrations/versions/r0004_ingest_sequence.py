"""Schema 4: an ingest sequence on papers and a cursor on deliveries, so that candidates never
depend on comparing wall-clock times across runs (a clock stepped back loses nothing)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_meta = sa.table("meta", sa.column("key", sa.String), sa.column("value", sa.Text))
_papers = sa.table(
    "papers", sa.column("id", sa.String), sa.column("first_seen", sa.String), sa.column("seq")
)
_deliveries = sa.table("deliveries", sa.column("run_at", sa.String), sa.column("cursor"))


def upgrade() -> None:
    """Number existing papers in the order they were first seen; give existing deliveries
    the cursor of the newest paper seen by their run; record schema version 4."""
    with op.batch_alter_table("papers") as batch:
        batch.add_column(sa.Column("seq", sa.Integer, nullable=True))
        batch.create_index("ix_papers_seq", ["seq"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("cursor", sa.Integer, nullable=True))
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(_papers.c.id).order_by(_papers.c.first_seen, _papers.c.id)
    ).scalars()
    for number, pid in enumerate(list(rows), start=1):
        conn.execute(_papers.update().where(_papers.c.id == pid).values(seq=number))
    newest = (
        sa.select(sa.func.max(_papers.c.seq))
        .where(_papers.c.first_seen <= _deliveries.c.run_at)
        .scalar_subquery()
    )
    conn.execute(_deliveries.update().values(cursor=sa.func.coalesce(newest, 0)))
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="4"))


def downgrade() -> None:
    """Drop the sequence and the cursors."""
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("cursor")
    with op.batch_alter_table("papers") as batch:
        batch.drop_index("ix_papers_seq")
        batch.drop_column("seq")
    op.execute(_meta.update().where(_meta.c.key == "schema_version").values(value="3"))
