"""A clock for the code's `clock`/`sleep` seams that moves only when slept on: tests check
the waits that were asked for instead of waiting them out."""

from __future__ import annotations

import asyncio


class VirtualClock:
    """Call it for the time; await `sleep` to move it (and yield to the event loop once)."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        """Record the wait and jump the clock past it."""
        self.slept.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)
