"""Papers in the store: ingest (merging repeat sightings), look-ups, each subscriber's
candidate window, and cached embeddings."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Column, Connection, Table, func, insert, select, update

from digest.merge import merge
from digest.models import Paper, Windows
from digest.store.ledger import insert_ignore
from digest.store.schema import deliveries, embeddings, keyword_embeddings, papers, sightings
from digest.timeutil import from_text, to_text

BATCH = 500  # ids per IN (...) clause


def paper_row(p: Paper) -> dict[str, Any]:
    """A Paper as a `papers` row."""
    return {
        "id": p.id,
        "version": p.version,
        "title": p.title,
        "link": p.link,
        "authors": json.dumps(list(p.authors), ensure_ascii=False),
        "abstract": p.abstract,
        "categories": json.dumps(list(p.categories)),
        "announce_type": p.announce_type,
        "doi": p.doi,
        "journal_ref": p.journal_ref,
        "published": to_text(p.published) if p.published else None,
        "upvotes": p.upvotes,
        "comments": p.comments,
        "github": p.github,
        "project_page": p.project_page,
        "ai_summary": p.ai_summary,
        "source": p.source,
    }


def row_paper(row: Any) -> Paper:
    """A `papers` row as a Paper."""
    return Paper(
        id=row.id,
        version=row.version,
        title=row.title,
        link=row.link,
        authors=tuple(json.loads(row.authors)),
        abstract=row.abstract,
        categories=tuple(json.loads(row.categories)),
        announce_type=row.announce_type,
        doi=row.doi,
        journal_ref=row.journal_ref,
        published=from_text(row.published),
        upvotes=row.upvotes,
        comments=row.comments,
        github=row.github,
        project_page=row.project_page,
        ai_summary=row.ai_summary,
        source=row.source,
    )


def ingest(conn: Connection, batch: Iterable[Paper], *, source: str, now: datetime) -> int:
    """Store or enrich each paper and note that `source` listed it; return how many are new."""
    stamp = to_text(now)
    new = 0
    seq = int(conn.execute(select(func.max(papers.c.seq))).scalar() or 0)
    for paper in batch:
        row = conn.execute(select(papers).where(papers.c.id == paper.id)).first()
        if row is None:
            seq += 1
            conn.execute(
                insert(papers).values(**paper_row(paper), first_seen=stamp, updated=stamp, seq=seq)
            )
            new += 1
        else:
            old = row_paper(row)
            merged = merge(old, paper)
            if merged != old:
                conn.execute(
                    update(papers)
                    .where(papers.c.id == paper.id)
                    .values(**paper_row(merged), updated=stamp)
                )
        seen = conn.execute(
            select(sightings.c.paper_id).where(
                sightings.c.paper_id == paper.id, sightings.c.source == source
            )
        ).first()
        if seen is None:
            conn.execute(
                insert(sightings).values(
                    paper_id=paper.id,
                    source=source,
                    announce_type=paper.announce_type,
                    version=paper.version,
                    seen_at=stamp,
                )
            )
    return new


def windows(subscribers: Sequence[str], cursors: dict[str, int]) -> dict[int | None, list[int]]:
    """Subscribers grouped by candidate window: cursor -> subscriber positions.

    A subscriber's window opens after the newest paper known when their last digest was
    planned (an ingest sequence number, never a time); None for those never served; pure.
    """
    groups: dict[int | None, list[int]] = {}
    for i, sub in enumerate(subscribers):
        groups.setdefault(cursors.get(sub), []).append(i)
    return groups


def newest_seq(conn: Connection) -> int:
    """The ingest sequence number of the newest paper (0 for none)."""
    return int(conn.execute(select(func.max(papers.c.seq))).scalar() or 0)


def candidate_windows(
    conn: Connection,
    subscribers: Sequence[str],
    *,
    now: datetime,
    lookback: timedelta,
    upto: int | None = None,
) -> Windows:
    """Every subscriber's candidates, by window (memory grows with windows and papers, not
    with subscribers x papers).

    A subscriber's candidates are the papers ingested after their window opened (see
    `windows`), first seen within `lookback` of `now` (so a long pause does not bring a
    month of papers), that they were never sent; with `upto`, only papers ingested up to
    that seq (every instance of a shared run ranks the same papers). Subscribers that share
    a window share one query, and each paper is loaded once.
    """
    cursors = {
        who: int(cursor)
        for who, cursor in conn.execute(
            select(deliveries.c.subscriber, func.max(deliveries.c.cursor)).group_by(
                deliveries.c.subscriber
            )
        ).all()
        if cursor is not None
    }
    floor = to_text(now - lookback)
    papers_by_id: dict[str, Paper] = {}
    groups: list[tuple[tuple[str, ...], tuple[int, ...]]] = []
    sent_by_row: dict[int, frozenset[str]] = {}
    for cursor, members in windows(subscribers, cursors).items():
        query = select(papers).where(papers.c.first_seen >= floor)
        if cursor is not None:
            query = query.where(papers.c.seq > cursor)
        if upto is not None:
            query = query.where(papers.c.seq <= upto)
        ids = []
        for row in conn.execute(query.order_by(papers.c.seq, papers.c.id)):
            if row.id not in papers_by_id:
                papers_by_id[row.id] = row_paper(row)
            ids.append(row.id)
        row_of = {subscribers[i]: i for i in members}
        sent: dict[int, set[str]] = {}
        for start in range(0, len(ids), BATCH):  # a paper is never sent to anyone twice
            for who, pid in conn.execute(
                select(deliveries.c.subscriber, deliveries.c.paper_id).where(
                    deliveries.c.paper_id.in_(ids[start : start + BATCH]),
                    deliveries.c.subscriber.in_(list(row_of)),
                )
            ):
                sent.setdefault(row_of[who], set()).add(pid)
        groups.append((tuple(ids), tuple(members)))
        sent_by_row.update({row: frozenset(got) for row, got in sent.items()})
    return Windows(papers=papers_by_id, groups=tuple(groups), sent=sent_by_row)


def candidate_pools(
    conn: Connection,
    subscribers: Sequence[str],
    *,
    now: datetime,
    lookback: timedelta,
    upto: int | None = None,
) -> tuple[dict[str, Paper], list[list[str]]]:
    """`candidate_windows` as (papers by id, candidate ids per subscriber)."""
    found = candidate_windows(conn, subscribers, now=now, lookback=lookback, upto=upto)
    return found.papers, found.pools(len(subscribers))


def _vector_table(kind: str) -> tuple[Table, Column[Any]]:
    if kind == "keyword":
        return keyword_embeddings, keyword_embeddings.c.keyword
    return embeddings, embeddings.c.paper_id


def cached_embeddings(
    conn: Connection, keys: Sequence[str], model: str, *, kind: str = "paper"
) -> dict[str, bytes]:
    """Cached embedding bytes (float32) of those papers (or keywords) that have one."""
    table, key = _vector_table(kind)
    out: dict[str, bytes] = {}
    ids = list(dict.fromkeys(keys))
    for start in range(0, len(ids), BATCH):
        rows = conn.execute(
            select(key, table.c.vector).where(
                table.c.model == model, key.in_(ids[start : start + BATCH])
            )
        )
        out.update({r[0]: bytes(r[1]) for r in rows})
    return out


def save_embeddings(
    conn: Connection, vectors: dict[str, bytes], model: str, *, kind: str = "paper"
) -> None:
    """Remember embeddings that are not stored yet (another instance may store the same
    ones at the same moment: the first one stays)."""
    table, key = _vector_table(kind)
    have = set(cached_embeddings(conn, list(vectors), model, kind=kind))
    rows = [
        {key.name: k, "model": model, "vector": vec} for k, vec in vectors.items() if k not in have
    ]
    if rows:
        conn.execute(insert_ignore(conn, table), rows)


def keep_seeds(conn: Connection, batch: Iterable[Paper], *, now: datetime) -> int:
    """Store papers fetched only because a subscriber named them as seeds (`like`), without
    a seq: they are examples to rank by, never candidates of a digest. Known ids are left
    alone. How many were new."""
    stamp = to_text(now)
    added = 0
    for paper in batch:
        if conn.execute(select(papers.c.id).where(papers.c.id == paper.id)).first():
            continue
        conn.execute(
            insert(papers).values(**paper_row(paper), first_seen=stamp, updated=stamp, seq=None)
        )
        added += 1
    return added
