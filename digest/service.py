"""`digest serve`: one APScheduler job per schedule group; a clean stop on SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger

from digest.config.values import Config
from digest.errors import DigestError
from digest.schedule import Slot, group_slots, next_sends

log = logging.getLogger("digest.service")
# (members, stop, the group's label, the send moment this run is for)
RunGroup = Callable[[list[int], asyncio.Event, str, datetime | None], Awaitable[Any]]


class SlotTrigger(BaseTrigger):  # type: ignore[misc]
    """Fires at a Slot's send times (the same computation `digest check` prints)."""

    def __init__(self, slot: Slot) -> None:
        self.slot = slot

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        after = previous_fire_time or (now - timedelta(microseconds=1))
        upcoming = next_sends(self.slot, after, 1)
        return upcoming[0] if upcoming else None

    def __str__(self) -> str:
        return f"slot[{self.slot.label()}]"


def last_due(slot: Slot, now: datetime, grace: timedelta) -> datetime | None:
    """The newest send moment in (now - grace, now], if any: a send a restart may owe."""
    if grace <= timedelta(0):
        return None
    due = [t for t in next_sends(slot, now - grace, 10) if t <= now]
    return due[-1] if due else None


async def serve(
    config: Config,
    run_group: RunGroup,
    *,
    delivered_since: Callable[[list[int], datetime], bool],
    web: Callable[[asyncio.Event], Coroutine[Any, Any, None]] | None = None,
    every: Sequence[tuple[float, Callable[[], Coroutine[Any, Any, None]]]] = (),
) -> None:
    """Run every schedule group's digests on time until SIGTERM or SIGINT.

    Jobs never overlap (max_instances=1, coalesce, and one run at a time across groups, since a
    run holds the store's lock); a job that fires late within the misfire grace still runs,
    once. After a restart inside the grace period a group that was due and has not been served
    since runs at once. Each (seconds, task) of `every` runs that often (never twice at
    once; its failures are logged). On a signal, the running job finishes the messages in
    flight, records them, and the service returns.
    """
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    one_at_a_time = asyncio.Lock()
    running: set[asyncio.Task[Any]] = set()

    async def job(label: str, members: list[int], slot: Slot) -> None:
        task = asyncio.current_task()
        if task is not None:
            running.add(task)
        try:
            async with one_at_a_time:
                if stopping.is_set():
                    return
                log.info("run starting: %s (%d subscribers)", label, len(members))
                # the moment this run is for: instances sharing a store send it once
                fire = last_due(slot, datetime.now(UTC), max(grace, timedelta(hours=1)))
                await run_group(members, stopping, label, fire)
        except DigestError as exc:
            log.error("run failed: %s: %s", label, exc)
        except Exception as exc:  # a bug must not kill the service or print a traceback
            log.error("run failed: %s: %s: %s", label, type(exc).__name__, exc)
        finally:
            if task is not None:
                running.discard(task)

    grace = timedelta(hours=config.settings.schedule.misfire_grace_hours)
    scheduler = AsyncIOScheduler(timezone=UTC)
    now = datetime.now(UTC)
    slots = list(config.slots)
    for slot, members in group_slots(slots).items():
        label = slot.label()
        scheduler.add_job(
            job,
            SlotTrigger(slot),
            args=[label, members, slot],
            id=label,
            name=label,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=int(grace.total_seconds()) or None,
        )
        upcoming = next_sends(slot, now, 1)
        log.info("scheduled %s: next send %s", label, upcoming[0].isoformat() if upcoming else "-")
        owed = last_due(slot, now, grace)
        if owed is not None and not delivered_since(members, owed):
            log.info("catching up %s: due at %s", label, owed.isoformat())
            scheduler.add_job(job, "date", run_date=now, args=[label, members, slot])
    for seconds, task in every:

        async def periodic(task: Callable[[], Coroutine[Any, Any, None]] = task) -> None:
            try:
                await task()
            except DigestError as exc:
                log.error("%s failed: %s", task.__name__, exc)
            except Exception as exc:  # a bug must not kill the service or print a traceback
                log.error("%s failed: %s: %s", task.__name__, type(exc).__name__, exc)

        scheduler.add_job(
            periodic,
            "interval",
            seconds=seconds,
            next_run_time=now,
            max_instances=1,
            coalesce=True,
            name=getattr(task, "__name__", "periodic"),
        )
    scheduler.start()
    web_stop = asyncio.Event()
    endpoint: asyncio.Task[None] | None = None
    if web is not None:
        endpoint = asyncio.create_task(web(web_stop))
    log.info("serving; stop with SIGTERM or Ctrl-C")
    waiting = asyncio.create_task(stopping.wait())
    await asyncio.wait([waiting, *([endpoint] if endpoint else [])], return_when="FIRST_COMPLETED")
    if endpoint is not None and endpoint.done():  # the endpoint could not start: stop too
        stopping.set()
    log.info("stopping: finishing the messages in flight")
    scheduler.pause()  # no new job starts; the running ones see `stopping` and wind down
    if running:
        # before the scheduler shuts down: its executor cancels the jobs it still holds
        await asyncio.wait(running, timeout=120)
    scheduler.shutdown(wait=False)
    if endpoint is not None:
        web_stop.set()  # after the runs: links keep working until the last digest is out
        await endpoint  # requests in flight finish; a failure to start is raised here
    log.info("stopped")
