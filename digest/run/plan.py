"""What each subscriber of a chunk gets this run: candidates from the store, embeddings
(cached), one ranking batch, each digest built from it. The store is read and the embedding
cache written; nothing is sent."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta

import numpy as np

from digest.config.values import Config
from digest.errors import StoreError
from digest.models import Digest, Paper, Scored, Subscriber
from digest.ranking.batch import Batch, build_index
from digest.ranking.index import Index, ScoringParams
from digest.ranking.keywords import parse_keyword
from digest.ranking.reasons import PARTLY
from digest.ranking.score import Semantic
from digest.ranking.semantic import Embedder, paper_text
from digest.store import Store

log = logging.getLogger("digest.run")

Planned = tuple[Subscriber, Digest | None]


def ranking_settings(config: Config) -> ScoringParams:
    """The ranking settings a config asks for."""
    ranking = config.settings.ranking
    return ScoringParams(
        popularity_weight=ranking.popularity_weight,
        more_limit=ranking.more,
        semantic_weight=ranking.semantic_weight,
    )


def with_feedback(sub: Subscriber, votes: dict[str, dict[str, int]]) -> Subscriber:
    """`sub` with the papers they liked (config seeds, "more like this") and disliked ("less
    like this"); their latest click on a paper wins over a seed. Unchanged without any."""
    mine = votes.get(sub.email.casefold())
    if not mine:
        return sub
    liked = [p for p in sub.liked if mine.get(p, 1) > 0]
    liked += [p for p, v in mine.items() if v > 0 and p not in liked]
    disliked = tuple(p for p, v in mine.items() if v < 0)
    return replace(sub, liked=tuple(liked), disliked=disliked)


def example_papers(store: Store, subscribers: Sequence[Subscriber], known: set[str]) -> list[Paper]:
    """The stored liked and disliked papers that are not among the run's candidates."""
    wanted = dict.fromkeys(p for s in subscribers for p in (*s.liked, *s.disliked))
    found = (store.paper(pid) for pid in wanted if pid not in known)
    return [p for p in found if p is not None]


def embed(
    embedder: Embedder,
    papers: Iterable[Paper],
    subscribers: Sequence[Subscriber],
    store: Store,
    examples: Sequence[Paper] = (),
) -> Semantic:
    """Paper and keyword vectors, cached in the store so each is embedded once per model;
    `examples` (liked and disliked papers outside the candidates) are embedded too."""
    texts = {p.id: paper_text(p) for p in (*papers, *examples)}
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
    titles = {p.id: p.title for p in examples}
    liked = {pid for s in subscribers for pid in (*s.liked, *s.disliked)}
    titles.update({p.id: p.title for p in papers if p.id in liked})
    return Semantic(papers=vectors["paper"], keywords=vectors["keyword"], titles=titles)


@dataclass(frozen=True)
class Ranker:
    """What every chunk of a run ranks with: one index over the run's candidate papers (with
    every subscriber's phrases) and, for the hybrid ranker, their vectors."""

    index: Index
    semantic: Semantic | None
    problem: str | None = None  # why the hybrid ranker fell back to lexical this run
    votes: dict[str, dict[str, int]] = field(default_factory=dict)  # address -> paper -> +-1


def prepare(
    config: Config,
    store: Store,
    *,
    run_at: datetime,
    cursor: int | None,
    embedder: Embedder | None = None,
) -> Ranker:
    """The run's ranker: its candidate papers (up to seq `cursor`) indexed once, embedded
    when the ranker is hybrid (only what the cache lacks, in one call). Blocking: the run
    calls it in a worker thread."""
    subs = config.subscribers
    lookback = timedelta(days=config.settings.email.lookback_days)
    found = store.candidate_windows(
        [s.email for s in subs], now=run_at, lookback=lookback, upto=cursor
    )
    papers = found.papers.values()
    index = build_index(papers, subs, ranking_settings(config))
    if embedder is None:  # liked papers count in the hybrid ranking only
        return Ranker(index, None)
    votes = store.feedback_votes([s.email for s in subs])
    people = [with_feedback(s, votes) for s in subs]
    examples = example_papers(store, people, set(found.papers))
    try:
        return Ranker(index, embed(embedder, papers, people, store, examples), votes=votes)
    except StoreError:
        raise
    except Exception as exc:  # the model's process died (killed, out of memory): rank anyway
        problem = f"semantic ranking unavailable this run ({type(exc).__name__}: {exc}); lexical"
        log.warning("%s", problem)
        return Ranker(index, None, problem)


def rank_chunk(
    config: Config,
    store: Store,
    subscribers: Sequence[Subscriber],
    *,
    ranker: Ranker,
    run_at: datetime,
    cursor: int | None,
) -> Batch:
    """One chunk of subscribers scored in one batch with the run's ranker, among their
    unsent candidates (papers up to seq `cursor`). Blocking: the run calls it in a worker
    thread; the digests are then built one at a time as they are sent (`plan_chunk`), so
    what the thread allocates is arrays, not thousands of objects the loop later frees."""
    lookback = timedelta(days=config.settings.email.lookback_days)
    found = store.candidate_windows(
        [sub.email for sub in subscribers], now=run_at, lookback=lookback, upto=cursor
    )
    return Batch(
        (),
        [with_feedback(sub, ranker.votes) for sub in subscribers],
        candidates=found,
        settings=ranker.index.settings,
        semantic=ranker.semantic,
        index=ranker.index,
    )


def plan_chunk(batch: Batch, *, day: date) -> Iterator[Planned]:
    """Each digest of a ranked chunk (None when nothing matched), built as it is needed."""
    for row in range(len(batch.subscribers)):
        yield plan_one(batch, row, day=day)


def plan_one(batch: Batch, row: int, *, day: date) -> Planned:
    """Subscriber `row`'s digest for `day` (None when nothing matched): the best `max_papers`,
    then up to `more` further strong matches."""
    sub = batch.subscribers[row]
    ranking = batch.ranking(row)
    if not ranking.items:
        return sub, None
    cap = sub.max_papers
    more = [i for i in ranking.items[cap:] if not weak(i)][: batch.index.settings.more_limit]
    return (
        sub,
        Digest(
            subscriber=sub,
            day=day,
            papers=ranking.items[:cap],
            more=tuple(more),
            matched=ranking.matched,
        ),
    )


def weak(item: Scored) -> bool:
    """Listed only for some words of keywords: shown in the top list when it ranks there,
    never among the further matches or counted as a match."""
    return bool(item.reasons) and all(r.startswith(PARTLY) for r in item.reasons)
