"""Seed papers (`like`) that no source has listed: looked up once in the arXiv API and kept
as examples to rank by (never digest candidates); one that cannot be found is a note."""

from __future__ import annotations

import asyncio
from datetime import datetime
from urllib.parse import urlencode

from digest.config.values import Config
from digest.errors import DigestError
from digest.fetch import Fetcher
from digest.sources import arxiv_api
from digest.store import Store

BATCH = 50  # ids per API request; the fetcher paces requests to one host


async def fetch_seeds(
    config: Config, store: Store, fetcher: Fetcher, *, now: datetime
) -> list[str]:
    """Look up the seeds missing from the store (hybrid ranking only); notes for the report."""
    if not config.semantic:
        return []
    wanted = sorted({pid for s in config.subscribers for pid in s.liked})

    def missing() -> list[str]:
        return [pid for pid in wanted if store.paper(pid) is None]

    absent = await asyncio.to_thread(missing) if wanted else []
    notes: list[str] = []
    for start in range(0, len(absent), BATCH):
        ids = [pid.removeprefix("arxiv:") for pid in absent[start : start + BATCH]]
        query = urlencode({"id_list": ",".join(ids), "max_results": len(ids)})
        url = f"{config.settings.ranking.seed_lookup}?{query}"
        try:
            got = await fetcher.fetch(url, source="seeds")
            listing = arxiv_api.parse(got.body, source="seeds", headers=got.headers)
        except DigestError as exc:
            notes.append(f"seed papers not looked up: {exc}")
            continue
        found = [p for p in listing.papers if p.id in absent]
        await asyncio.to_thread(store.keep_seeds, found, now=now)
        known = {p.id for p in found}
        asked = {f"arxiv:{i}" for i in ids}
        notes += [f"seed {pid} not found in the arXiv API" for pid in sorted(asked - known)]
    return notes
