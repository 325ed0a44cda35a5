"""Opt-outs (a subscriber's word through a link or the CLI, overriding the config) and the
sent digests' HTML, compressed, for "View in browser"."""

from __future__ import annotations

import zlib
from datetime import datetime

from sqlalchemy import Connection, delete, select

from digest.store.ledger import insert_ignore
from digest.store.schema import opt_outs, pages
from digest.timeutil import to_text


def opt_out(conn: Connection, email: str, *, now: datetime, via: str) -> bool:
    """Record the opt-out of `email`; False when it was already recorded (the first time
    stays: a second click changes nothing)."""
    key = email.casefold()
    if conn.execute(select(opt_outs.c.email).where(opt_outs.c.email == key)).first():
        return False
    conn.execute(insert_ignore(conn, opt_outs).values(email=key, since=to_text(now), via=via))
    return True


def opt_in(conn: Connection, email: str) -> bool:
    """Remove the opt-out of `email`; False when there was none."""
    done = conn.execute(delete(opt_outs).where(opt_outs.c.email == email.casefold()))
    return bool(done.rowcount)


def opted_out(conn: Connection) -> dict[str, str]:
    """Opted-out addresses (case-folded) and since when."""
    return {row.email: row.since for row in conn.execute(select(opt_outs))}


def save_page(
    conn: Connection, message_id: str, subscriber: str, html: str, *, sent_at: datetime
) -> None:
    """Keep a sent digest's HTML (the first copy, if the same message is sent again)."""
    conn.execute(
        insert_ignore(conn, pages).values(
            message_id=message_id,
            subscriber=subscriber,
            sent_at=to_text(sent_at),
            html=zlib.compress(html.encode("utf-8"), 6),
        )
    )


def page(conn: Connection, message_id: str) -> str | None:
    """A kept digest's HTML."""
    blob = conn.execute(select(pages.c.html).where(pages.c.message_id == message_id)).scalar()
    return zlib.decompress(bytes(blob)).decode("utf-8") if blob is not None else None


def prune_pages(conn: Connection, before: datetime) -> int:
    """Forget pages sent before `before`; how many."""
    return int(conn.execute(delete(pages).where(pages.c.sent_at < to_text(before))).rowcount)
