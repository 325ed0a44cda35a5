"""Send times are pure functions of (schedule, now): time zones, DST changes, weekends, weekly."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from digest.schedule import DAY_NAMES, Slot, group_slots, next_sends
from digest.service import SlotTrigger, last_due


def test_weekdays_skip_the_weekend() -> None:
    """From Friday noon, a Mon-Fri 07:30 Berlin schedule next sends on Monday."""
    slot = Slot(at=time(7, 30), zone="Europe/Berlin")
    sends = next_sends(slot, datetime(2026, 11, 20, 12, tzinfo=UTC), 3)
    assert [s.isoformat() for s in sends] == [
        "2026-11-23T07:30:00+01:00",
        "2026-11-24T07:30:00+01:00",
        "2026-11-25T07:30:00+01:00",
    ]


def test_spring_forward_gap_moves_the_send_later() -> None:
    """02:30 does not exist in Berlin on 29 March 2026; that day's send is at 03:30 CEST."""
    slot = Slot(at=time(2, 30), zone="Europe/Berlin", days=DAY_NAMES)
    sends = next_sends(slot, datetime(2026, 3, 28, 12, tzinfo=UTC), 2)
    assert [s.isoformat() for s in sends] == [
        "2026-03-29T03:30:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]


def test_fall_back_sends_once_at_the_first_occurrence() -> None:
    """02:30 happens twice in Berlin on 25 October 2026; the digest goes out once, at the first."""
    slot = Slot(at=time(2, 30), zone="Europe/Berlin", days=DAY_NAMES)
    sends = next_sends(slot, datetime(2026, 10, 24, 12, tzinfo=UTC), 2)
    assert sends[0].isoformat() == "2026-10-25T02:30:00+02:00"
    assert sends[1].astimezone(UTC) - sends[0].astimezone(UTC) == timedelta(hours=25)


def test_same_local_time_across_a_dst_change_in_new_york() -> None:
    """07:30 in New York stays 07:30 local across the change on 1 November 2026 (the UTC hour
    moves from 11 to 12)."""
    slot = Slot(at=time(7, 30), zone="America/New_York", days=DAY_NAMES)
    sends = next_sends(slot, datetime(2026, 10, 30, 12, tzinfo=UTC), 3)
    assert [s.hour for s in sends] == [7, 7, 7]
    assert [s.astimezone(UTC).hour for s in sends] == [11, 12, 12]


def test_weekly_cadence_sends_on_its_day_only() -> None:
    """A weekly digest on Thursday goes out once a week, on Thursdays."""
    slot = Slot(at=time(9, 0), zone="UTC", cadence="weekly", weekly_day="thu")
    sends = next_sends(slot, datetime(2026, 11, 23, tzinfo=UTC), 3)
    assert [s.weekday() for s in sends] == [3, 3, 3]
    assert sends[1] - sends[0] == timedelta(days=7)


def test_send_times_are_strictly_after_now() -> None:
    """A send exactly at `now` is not 'next'; the following one is."""
    slot = Slot(at=time(7, 30), zone="UTC", days=DAY_NAMES)
    now = datetime(2026, 11, 23, 7, 30, tzinfo=UTC)
    assert next_sends(slot, now, 1)[0] == now + timedelta(days=1)


def test_subscribers_with_the_same_slot_share_a_group() -> None:
    """Groups keep first-seen order and collect subscriber indexes."""
    a = Slot(at=time(7, 30), zone="UTC")
    b = Slot(at=time(8, 0), zone="Europe/Berlin")
    assert list(group_slots([a, b, a]).items()) == [(a, [0, 2]), (b, [1])]


def test_trigger_and_catch_up_follow_the_same_times() -> None:
    """The scheduler's trigger fires at next_sends' times; after a restart within the grace the
    send that was due is owed, and outside it nothing is."""
    slot = Slot(at=time(7, 30), zone="Europe/Berlin")
    now = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
    trigger = SlotTrigger(slot)
    first = trigger.get_next_fire_time(None, now)
    assert first == next_sends(slot, now, 1)[0]
    assert trigger.get_next_fire_time(first, first) == next_sends(slot, first, 1)[0]
    owed = last_due(slot, now, timedelta(hours=6))
    assert owed is not None and owed.isoformat() == "2026-11-23T07:30:00+01:00"
    assert last_due(slot, now, timedelta(minutes=10)) is None
