"""Merge two records of the same paper from different sources; pure, never loses a field."""

from __future__ import annotations

from dataclasses import replace

from digest.models import Paper


def _max(a: int | None, b: int | None) -> int | None:
    if a is None:
        return b
    if b is None:
        return a
    return max(a, b)


def merge(old: Paper, new: Paper) -> Paper:
    """Return `old` enriched by `new`: keep what `old` knows, fill its gaps, take the freshest
    popularity figures and the highest version."""
    assert old.id == new.id, "merge() joins records of one paper"
    untitled = old.title in ("", "(untitled)")
    return replace(
        old,
        title=new.title if untitled and new.title else old.title,
        link=old.link or new.link,
        authors=old.authors or new.authors,
        abstract=old.abstract if len(old.abstract) >= len(new.abstract) else new.abstract,
        version=_max(old.version, new.version),
        categories=old.categories or new.categories,
        announce_type=old.announce_type or new.announce_type,
        doi=old.doi or new.doi,
        journal_ref=old.journal_ref or new.journal_ref,
        published=old.published or new.published,
        upvotes=_max(old.upvotes, new.upvotes),
        comments=_max(old.comments, new.comments),
        github=new.github or old.github,
        project_page=new.project_page or old.project_page,
        ai_summary=new.ai_summary or old.ai_summary,
        source=old.source or new.source,
    )
