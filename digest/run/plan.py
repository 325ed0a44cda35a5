"""What each subscriber gets this run: candidates from the store, embeddings (cached), one
ranking batch, and each digest built from it as it is needed. The store is read and the
embedding cache written; nothing is sent."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime, timedelta

import numpy as np

from digest.config.values import Config
from digest.models import Digest, Paper, Scored, Subscriber
from digest.ranking.batch import Batch
from digest.ranking.index import ScoringParams
from digest.ranking.keywords import parse_keyword
from digest.ranking.reasons import PARTLY
from digest.ranking.score import Semantic
from digest.ranking.semantic import Embedder, paper_text
from digest.store import Store

Planned = tuple[Subscriber, Digest | None]


def ranking_settings(config: Config) -> ScoringParams:
    """The ranking settings a config asks for."""
    ranking = config.settings.ranking
    return ScoringParams(
        popularity_weight=ranking.popularity_weight,
        more_limit=ranking.more,
        semantic_weight=ranking.semantic_weight,
    )


def embed(
    embedder: Embedder, papers: Iterable[Paper], subscribers: Sequence[Subscriber], store: Store
) -> Semantic:
    """Paper and keyword vectors, cached in the store so each is embedded once per model."""
    texts = {p.id: paper_text(p) for p in papers}
    labels = {
        parse_keyword(k).label: parse_keyword(k).label for s in subscribers for k in s.keywords
    }
    kinds = {"paper": texts, "keyword": labels}
    cached = {
        kind: store.embeddings(list(found), model=embedder.name, kind=kind)
        for kind, found in kinds.items()
    }
    missing = [
        (kind, key, text)
        for kind, found in kinds.items()
        for key, text in found.items()
        if key not in cached[kind]
    ]
    # one call for both kinds: the embedder may start a worker process for it
    fresh = embedder.encode([text for _, _, text in missing])
    new: dict[str, dict[str, bytes]] = {kind: {} for kind in kinds}
    for (kind, key, _), row in zip(missing, fresh, strict=True):
        new[kind][key] = row.astype(np.float32).tobytes()
    vectors = {}
    for kind in kinds:
        store.save_embeddings(new[kind], model=embedder.name, kind=kind)
        blobs = {**cached[kind], **new[kind]}
        vectors[kind] = {k: np.frombuffer(b, dtype=np.float32) for k, b in blobs.items()}
    return Semantic(papers=vectors["paper"], keywords=vectors["keyword"])


def rank_batch(
    config: Config,
    store: Store,
    *,
    now: datetime,
    embedder: Embedder | None = None,
    upto: int | None = None,
) -> Batch:
    """Rank every subscriber's unsent candidates (papers up to seq `upto`) in one batch,
    embedding new papers first."""
    subscribers = config.subscribers
    lookback = timedelta(days=config.settings.email.lookback_days)
    found = store.candidate_windows(
        [sub.email for sub in subscribers], now=now, lookback=lookback, upto=upto
    )
    papers = found.papers
    semantic = embed(embedder, papers.values(), subscribers, store) if embedder else None
    return Batch(
        papers.values(),
        subscribers,
        candidates=found,
        settings=ranking_settings(config),
        semantic=semantic,
    )


def plan_digests(batch: Batch, *, now: datetime) -> Iterator[Planned]:
    """Each subscriber's digest (None when nothing matched), built as it is needed."""
    for row in range(len(batch.subscribers)):
        yield plan_one(batch, row, now=now)


def plan_one(batch: Batch, row: int, *, now: datetime) -> Planned:
    """Subscriber `row`'s digest (None when nothing matched)."""
    sub = batch.subscribers[row]
    ranking = batch.ranking(row)
    if not ranking.items:
        return sub, None
    cap = sub.max_papers
    return (
        sub,
        Digest(
            subscriber=sub,
            day=now.date(),
            papers=ranking.items[:cap],
            more=tuple(i for i in ranking.items[cap:] if not weak(i)),
            matched=ranking.matched,
        ),
    )


def weak(item: Scored) -> bool:
    """Listed only for some words of keywords: shown in the top list when it ranks there,
    never among the further matches or counted as a match."""
    return bool(item.reasons) and all(r.startswith(PARTLY) for r in item.reasons)
