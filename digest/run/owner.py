"""Which parts of a group's run this instance may work on: on PostgreSQL, the advisory
locks its own database session holds (kept alive by a heartbeat, checked by a fence before
each message); on SQLite and in a dry-run, everything (the store's run lock, or a copy,
already makes this instance the only one)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import threading
import time
from types import TracebackType

from digest.errors import StoreError
from digest.store.locks import SessionLocks

log = logging.getLogger("digest.run")
FRESH = 0.1  # seconds a successful fence check stands for


def instance_name() -> str:
    """This process as other instances (and `digest status`) see it: host and process id."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _awake() -> float:
    """Seconds on a clock that keeps counting while the host is suspended (CLOCK_BOOTTIME
    where there is one): a suspended VM's pause counts as the stall it is."""
    boottime = getattr(time, "CLOCK_BOOTTIME", None)
    return time.clock_gettime(boottime) if boottime is not None else time.monotonic()


class Ownership:
    """This instance's hold on parts (run id, part) of group runs for the length of a run."""

    def __init__(self, locks: SessionLocks | None, *, idle: float) -> None:
        self.locks = locks
        self.idle = idle
        self._heart: threading.Thread | None = None
        self._quiet = threading.Event()
        self._lost: StoreError | None = None
        self._checked = float("-inf")

    async def __aenter__(self) -> Ownership:
        if self.locks is not None:
            # a thread, not a task: a store call that blocks the event loop (waiting for a
            # lock) must not silence a process that is alive
            self._heart = threading.Thread(target=self._beat, name="digest-heartbeat", daemon=True)
            self._heart.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._quiet.set()
        if self.locks is not None:
            await asyncio.to_thread(self.locks.close)  # the server frees every lock it held

    def _beat(self) -> None:
        """Speak on the session well within its idle limit, so the server keeps it (and the
        locks) while this process runs; a stalled process goes silent and loses them."""
        assert self.locks is not None
        while self._lost is None and not self._quiet.wait(self.idle / 4):
            try:
                self.locks.alive()
            except StoreError as exc:
                if not self._quiet.is_set():
                    log.warning("%s", exc)
                self._lost = exc

    async def take(self, run_id: int, part: int) -> bool:
        """Hold (run, part) if nobody else does; never waits."""
        if self.locks is None:
            return True
        if self._lost is not None:
            raise self._lost
        return await asyncio.to_thread(self.locks.try_lock, run_id, part)

    async def give_back(self, run_id: int, part: int) -> None:
        """Let another instance have (run, part); a lost session gave it back already."""
        if self.locks is not None and self._lost is None:
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(self.locks.unlock, run_id, part)

    async def fence(self) -> None:
        """StoreError unless the session holding this instance's locks still lives: checked
        before each message, so a stalled instance that lost its share sends nothing more
        than what was already on its SMTP connections."""
        if self.locks is None:
            return
        if self._lost is not None:
            raise self._lost
        # A session can only be lost after the process was silent for `idle` (>= 2 s); a
        # check younger than FRESH therefore still holds, and after any stall that
        # clock has moved on, so the first message after it checks again.
        if _awake() - self._checked < FRESH:
            return
        started = _awake()  # before the check: a stall after it makes it stale
        try:
            await asyncio.to_thread(self.locks.alive)
        except StoreError as exc:
            self._lost = exc
            raise
        self._checked = started
