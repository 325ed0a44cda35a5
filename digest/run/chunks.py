"""Sending a run chunk by chunk: take the first chunk this instance can hold, rank it on
the planning thread, send its digests; then wait on the chunks other instances hold until
they finish them or their sessions end."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from jinja2 import Environment

from digest.errors import StoreError
from digest.mail.render import make_environment
from digest.models import DeliveryOutcome, Subscriber
from digest.run.context import Done, Run, pause
from digest.run.deliver import send_all
from digest.run.plan import Ranker, plan_chunk, prepare, rank_chunk
from digest.store.group_runs import GroupRun

log = logging.getLogger("digest.run")


async def _send_chunk(
    run: Run,
    planned: GroupRun,
    members: Sequence[Subscriber],
    ranker: Ranker,
    env: Environment,
    done: Done,
) -> None:
    """Plan one chunk in a worker thread (the event loop keeps answering meanwhile), then
    send its digests."""
    opted, paused = run.store.opted_out(), run.store.paused()
    keep = [s for s in members if s.email.casefold() not in opted | paused.keys()]
    for s in members:
        key = s.email.casefold()
        if key in opted:
            done.deliveries.append(DeliveryOutcome(s.name, s.email, status="opted-out"))
        elif key in paused:
            why = paused[key].describe()
            done.deliveries.append(DeliveryOutcome(s.name, s.email, "paused", paused=why))
    if not keep:
        return
    batch = await run.planning(
        rank_chunk,
        run.config,
        run.store,
        keep,
        ranker=ranker,
        run_at=planned.run_at,
        cursor=planned.cursor,
    )
    digests = plan_chunk(batch, day=planned.run_at.date())
    total = len(run.config.subscribers)

    def one_more() -> None:
        done.count += 1
        if run.progress is not None:
            run.progress(done.count, total)

    sent, served = await send_all(
        run.config,
        digests,
        env=env,
        store=run.store,
        outbox=run.outbox,
        now=planned.run_at,
        halt=run.halt,
        cursor=planned.cursor,
        fence=run.owner.fence if run.owner.locks is not None else None,
        progress=one_more,
        stop=run.stop,
    )
    done.deliveries += sent
    done.deliveries += [
        DeliveryOutcome(s.name, s.email, status="stopped", error=run.halt.why)
        for s in keep
        if s.email not in served and run.halt.is_set()
    ]


async def _next_chunk(run: Run, planned: GroupRun, pending: list[int]) -> int | None:
    """The first unfinished chunk this instance can hold (held now; None if none is free).
    Looked for from the start each time, so a chunk left by an instance that died is taken
    as soon as the chunk in hand is sent."""
    for chunk in list(pending):
        if run.halt.is_set():
            return None
        if not await run.owner.take(planned.id, chunk):
            continue
        if not run.recorded or not run.store.chunk_done(planned.id, chunk):
            return chunk
        pending.remove(chunk)
        await run.owner.give_back(planned.id, chunk)
    return None


def _environment(templates: Path | None) -> Environment:
    """The run's template environment with both digest templates loaded (compiled)."""
    env = make_environment(templates)
    for name in ("digest.html", "digest.txt"):
        env.get_template(name)
    return env


async def send_phase(run: Run, planned: GroupRun, done: Done) -> None:
    """Send every chunk of the run this instance can hold, then wait on the chunks others
    hold: they finish them, or their sessions end and this instance takes them."""
    store, subs, size = run.store, run.config.subscribers, planned.chunk_size
    # once a run (every chunk shares its cards), templates compiled on the planning thread
    env = await run.planning(_environment, run.config.templates)
    pending = list(range(planned.chunks))
    try:
        if done.ranker is None:  # the run was fetched by another instance, or earlier
            done.ranker = await run.planning(
                prepare,
                run.config,
                store,
                run_at=planned.run_at,
                cursor=planned.cursor,
                embedder=run.embedder,
            )
            if done.ranker.problem:
                done.notes.append(done.ranker.problem)
        ranker = done.ranker
        while pending and not run.halt.is_set():
            chunk = await _next_chunk(run, planned, pending)
            if chunk is None:  # the rest is held by others: wait for them to finish or die
                await pause(run.stop, run.group.poll)
                if run.stop is not None and run.stop.is_set():
                    run.halt.stop("stopped sending: shutting down")
                pending = [c for c in pending if not store.chunk_done(planned.id, c)]
                continue
            try:
                members = subs[chunk * size : (chunk + 1) * size]
                if run.only is not None:
                    members = tuple(s for s in members if s.email in run.only)
                await _send_chunk(run, planned, members, ranker, env, done)
                if not run.halt.is_set():
                    if run.recorded:
                        store.finish_chunk(
                            planned.id,
                            chunk,
                            instance=run.group.instance,
                            subscribers=len(members),
                        )
                    pending.remove(chunk)
            finally:
                await run.owner.give_back(planned.id, chunk)
    except StoreError as exc:
        run.halt.stop(f"not sent: {exc}")
    except Exception as exc:  # a fault of ours must still end in a report, not a traceback
        log.debug("planning or sending failed", exc_info=True)
        run.halt.stop(f"not sent: unexpected failure ({type(exc).__name__}: {exc})")
    if run.owner.locks is None and run.halt.is_set():  # every chunk left was this run's own
        seen = {d.email for d in done.deliveries}
        done.deliveries += [
            DeliveryOutcome(s.name, s.email, status="stopped", error=run.halt.why)
            for s in subs
            if s.email not in seen and (run.only is None or s.email in run.only)
        ]
