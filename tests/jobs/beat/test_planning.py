"""What one pass plans for one job (jobs.beat.planning): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from jobs.beat import planning
from jobs.models import Job

T0 = datetime(2030, 6, 3, 12, 0, 0, tzinfo=UTC)
GRACE = timedelta(seconds=10)


def job(*, every: int = 10, next_run_at: datetime, **fields) -> Job:
    return Job(
        schedule_kind="interval",
        interval_every=every,
        interval_unit="seconds",
        interval_anchor=T0,
        timezone="UTC",
        next_run_at=next_run_at,
        **fields,
    )


def once(at: datetime) -> Job:
    return Job(schedule_kind="once", once_at=at, timezone="UTC", next_run_at=at)


def plan(j: Job, *, now: datetime, lookahead: float = 0, working_since: datetime | None = None, limit: int = 100):
    stale_before = (working_since or now) - GRACE
    return planning.plan(
        j, now=now, horizon=now + timedelta(seconds=lookahead), stale_before=stale_before, missed_limit=limit
    )


def s(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_a_due_slot_is_run_and_the_job_moves_to_the_next_after_now():
    p = plan(job(next_run_at=s(10)), now=s(12))
    assert (p.slot, p.slots, p.following, p.missed, p.ahead) == (s(10), [s(10)], s(20), [], False)


def test_every_slot_a_busy_beat_reaches_late_is_run():
    p = plan(job(next_run_at=s(10)), now=s(45), working_since=s(0))
    assert p.slots == [s(10), s(20), s(30), s(40)] and p.missed == []
    assert p.following == s(50)


def test_slots_older_than_the_grace_when_beat_started_were_missed():
    p = plan(job(next_run_at=s(10)), now=s(65))  # beat starts working now
    assert p.missed == [s(10), s(20), s(30), s(40), s(50)]
    assert p.slots == [s(60)] and p.catchup is None and p.note == ""


def test_missed_slots_are_bounded_and_say_so():
    p = plan(job(next_run_at=s(10)), now=s(3600), limit=3)
    assert p.missed == [s(10), s(20), s(30)]
    assert p.note == planning.LATER_NOT_RECORDED


def test_catch_up_once_makes_one_run_for_the_latest_missed_slot():
    p = plan(job(next_run_at=s(10), catchup_policy="once"), now=s(65))
    assert (p.catchup, p.slots) == (s(50), [s(60)])


def test_a_slot_within_the_lookahead_is_claimed_ahead_alone():
    p = plan(job(next_run_at=s(20)), now=s(12), lookahead=10)
    assert (p.slots, p.following, p.ahead, p.missed) == ([s(20)], s(30), True, [])


def test_a_slot_beyond_the_lookahead_is_left_for_later():
    assert plan(job(next_run_at=s(30)), now=s(12), lookahead=10) is None


def test_a_one_off_job_is_claimed_when_due_not_ahead():
    assert plan(once(s(20)), now=s(12), lookahead=10) is None
    p = plan(once(s(20)), now=s(20))
    assert (p.slots, p.following) == ([s(20)], None)  # its last slot: the job is finished


def test_a_one_off_job_whose_instant_passed_while_beat_was_down():
    p = plan(once(s(20)), now=s(120))
    assert (p.missed, p.slots, p.following) == ([s(20)], [], None)


def test_a_schedule_that_cannot_be_computed_raises_for_the_caller_to_set_aside():
    broken = job(next_run_at=s(10))
    broken.interval_anchor = None
    with pytest.raises(Exception):  # noqa: B017 - whatever the schedules module raises
        plan(broken, now=s(12))
