"""When digests go out: schedule groups from the config and their next send times.

Pure functions of (config values, now); `digest serve` turns the groups into APScheduler
cron jobs and `digest check` prints their next send times.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class Slot:
    """A send schedule: local time of day, time zone, weekdays, cadence."""

    at: time
    zone: str
    days: tuple[str, ...] = DAY_NAMES[:5]
    cadence: str = "daily"  # "daily" | "weekly"
    weekly_day: str = "mon"

    @property
    def weekdays(self) -> frozenset[int]:
        """The weekday numbers (Monday 0) a digest may go out on."""
        if self.cadence == "weekly":
            return frozenset({DAY_NAMES.index(self.weekly_day)})
        return frozenset(DAY_NAMES.index(d) for d in self.days)

    def label(self) -> str:
        """'07:30 Europe/Berlin mon-fri' style description."""
        when = self.at.strftime("%H:%M:%S" if self.at.second else "%H:%M")
        if self.cadence == "weekly":
            return f"{when} {self.zone} weekly on {self.weekly_day}"
        return f"{when} {self.zone} {','.join(self.days)}"


def local_send(day: datetime, slot: Slot) -> datetime:
    """The send moment on the local calendar `day` (a naive date-carrying datetime).

    A time that does not exist that day (the spring-forward gap) moves forward by the gap, as
    clocks do; a time that exists twice (fall back) is the first of the two.
    """
    zone = ZoneInfo(slot.zone)
    naive = datetime.combine(day.date(), slot.at)
    moment = naive.replace(tzinfo=zone, fold=0)
    # round-trip through UTC: a non-existent wall time comes back shifted by the gap
    return moment.astimezone(ZoneInfo("UTC")).astimezone(zone)


def next_sends(slot: Slot, now: datetime, count: int = 3) -> list[datetime]:
    """The next `count` send moments strictly after `now`, in the slot's time zone."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    zone = ZoneInfo(slot.zone)
    local_now = now.astimezone(zone)
    out: list[datetime] = []
    day = local_now.replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    days = slot.weekdays
    for _ in range(400):
        if day.weekday() in days:
            moment = local_send(day, slot)
            if moment > now:
                out.append(moment)
                if len(out) == count:
                    break
        day += timedelta(days=1)
    return out


def group_slots(slots: Sequence[Slot]) -> dict[Slot, list[int]]:
    """Indexes of the subscribers that share each distinct slot, in first-seen order."""
    groups: dict[Slot, list[int]] = {}
    for i, slot in enumerate(slots):
        groups.setdefault(slot, []).append(i)
    return groups
