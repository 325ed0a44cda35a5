"""The store's tables as the code queries them (SQLAlchemy Core). Changing them means adding
an Alembic revision in `migrations/versions/`: the revisions, not these objects, create and
upgrade databases."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, LargeBinary, MetaData, String, Table, Text

metadata = MetaData()

meta = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)
papers = Table(
    "papers",
    metadata,
    Column("id", String(255), primary_key=True),
    Column("version", Integer),
    Column("title", Text, nullable=False),
    Column("link", Text, nullable=False),
    Column("authors", Text, nullable=False),
    Column("abstract", Text, nullable=False),
    Column("categories", Text, nullable=False),
    Column("announce_type", String(32)),
    Column("doi", Text),
    Column("journal_ref", Text),
    Column("published", String(32)),
    Column("upvotes", Integer),
    Column("comments", Integer),
    Column("github", Text),
    Column("project_page", Text),
    Column("ai_summary", Text),
    Column("source", Text, nullable=False),
    Column("first_seen", String(32), nullable=False, index=True),
    Column("updated", String(32), nullable=False),
    Column("seq", Integer, index=True),  # ingest order: candidates compare these, not times
)
sightings = Table(
    "sightings",
    metadata,
    Column("paper_id", String(255), primary_key=True),
    Column("source", String(255), primary_key=True),
    Column("announce_type", String(32)),
    Column("version", Integer),
    Column("seen_at", String(32), nullable=False),
)
feed_state = Table(
    "feed_state",
    metadata,
    Column("source", String(255), primary_key=True),
    Column("etag", Text),
    Column("last_modified", Text),
    Column("batch", String(32)),
    Column("checked", String(32), nullable=False),
)
deliveries = Table(
    "deliveries",
    metadata,
    Column("subscriber", String(320), primary_key=True),
    Column("paper_id", String(255), primary_key=True),
    Column("run_at", String(32), nullable=False),
    Column("sent_at", String(32), nullable=False),
    Column("message_id", Text, nullable=False),
    Column("cursor", Integer),  # the newest paper seq known when this digest was planned
)
runs = Table(
    "runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started", String(32), nullable=False),
    Column("finished", String(32), nullable=False),
    Column("dry_run", Integer, nullable=False),
    Column("report", Text, nullable=False),
)


embeddings = Table(
    "embeddings",
    metadata,
    Column("paper_id", String(255), primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
)

keyword_embeddings = Table(
    "keyword_embeddings",
    metadata,
    Column("keyword", Text, primary_key=True),
    Column("model", String(64), primary_key=True),
    Column("vector", LargeBinary, nullable=False),
)

group_runs = Table(
    "group_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("group_key", String(64), nullable=False, index=True),
    Column("label", Text, nullable=False),
    Column("fire", String(32)),  # the scheduled moment a `serve` job fired for (None: `run`)
    Column("run_at", String(32), nullable=False),  # the planned moment: dates its Message-IDs
    Column("leader", String(255), nullable=False),  # the instance that opened it
    Column("state", String(16), nullable=False),  # fetching | sending | finished | abandoned
    Column("cursor", Integer),  # newest paper seq when sending began: every instance ranks to it
    Column("chunk_size", Integer),  # subscribers (in config order) per chunk of sending
    Column("chunks", Integer),
    Column("started", Float, nullable=False),  # epoch seconds by the database's clock
    Column("finished", Float),
)
run_chunks = Table(
    "run_chunks",
    metadata,
    Column("run_id", Integer, primary_key=True),
    Column("chunk", Integer, primary_key=True),
    Column("instance", String(255), nullable=False),
    Column("subscribers", Integer, nullable=False),
    Column("finished", Float, nullable=False),
)
opt_outs = Table(
    "opt_outs",
    metadata,
    Column("email", String(320), primary_key=True),
    Column("since", String(32), nullable=False),
    Column("via", String(32), nullable=False),  # "link" (the web page or one-click) | "cli"
)
feedback = Table(
    "feedback",
    metadata,
    Column("email", String(320), primary_key=True),  # case-folded
    Column("paper_id", String(255), primary_key=True),
    Column("value", Integer, nullable=False),  # +1 more like this, -1 less like this
    Column("at", String(32), nullable=False),
)
bounces = Table(
    "bounces",
    metadata,
    Column("email", String(320), primary_key=True),  # case-folded
    Column("ref", String(255), primary_key=True),  # the bounce's Message-ID, or the refused one's
    Column("kind", String(8), nullable=False),  # "hard" | "soft"
    Column("status", String(32), nullable=False),  # e.g. "5.1.1", or the SMTP code
    Column("via", String(8), nullable=False),  # "smtp" (refused at RCPT TO) | "dsn"
    Column("at", String(32), nullable=False, index=True),
)
paused = Table(
    "paused",
    metadata,
    Column("email", String(320), primary_key=True),  # case-folded
    Column("since", String(32), nullable=False),
    Column("kind", String(8), nullable=False),
    Column("status", String(32), nullable=False),
    Column("reason", Text, nullable=False),  # "hard bounce 5.1.1", "5 soft bounces in 14 days"
)
pages = Table(
    "pages",
    metadata,
    Column("message_id", String(255), primary_key=True),
    Column("subscriber", String(320), nullable=False),
    Column("sent_at", String(32), nullable=False, index=True),
    Column("html", LargeBinary, nullable=False),  # zlib-compressed, as sent
)
