"""What one pass of beat does for one job: which slots it claims, records missed, and where it moves the job.

Pure: no database. `plan()` reads the job's `next_run_at` and schedule and
answers with a `Plan`; `jobs.beat.firing` carries out the plans of a whole
batch at once. The rules (docs/design.md, "The tick"):

- The job's slots from `next_run_at` up to now are due. A slot older than
  `stale_before` (the misfire grace before this beat started working) passed
  while no scheduler was running: it is recorded `missed` (at most
  JOBS_MISSED_RECORD_LIMIT; a note says when later ones were not counted).
  With catch-up policy `once`, one `catchup` run is made for the latest
  missed slot. Every newer slot is run, however late a busy beat reaches
  it: a running scheduler that falls behind sends late, it does not drop.
- A slot still to come but within the lookahead (`horizon`) is claimed
  ahead, alone, and published with its slot as ETA. A one-off job is not
  claimed ahead: its claim finishes it (paused `finished`), and a job shown
  finished before its only run starts would mislead.
- The job then moves to its `following` slot: the next one after now (or
  after the slot claimed ahead); None when there is none (finished).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime

from jobs import schedules
from jobs.models import CatchupPolicy, Job, ScheduleKind

LATER_NOT_RECORDED = "later missed slots were not recorded"


@dataclass
class Plan:
    """One job's part of a pass.

    `slot`: the job's `next_run_at` as read, which the advance expects to
    find unchanged. `missed`: slots recorded `missed` (`note` on the last).
    `catchup`: the slot of the one catch-up run, if any. `slots`: slots to
    run, due (one or several) or one still to come (claimed ahead).
    `following`: where `next_run_at` moves; None when the job has no slot
    left (it is then finished). `ahead`: the one slot is claimed before it
    is due.
    """

    job: Job
    slot: datetime
    slots: list[datetime]
    following: datetime | None
    missed: list[datetime] = field(default_factory=list)
    note: str = ""
    catchup: datetime | None = None
    ahead: bool = False


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def plan(job: Job, *, now: datetime, horizon: datetime, stale_before: datetime, missed_limit: int) -> Plan | None:
    """The plan for a job read as due (`next_run_at <= horizon`); None when it is left for a later pass.

    Raises whatever the schedules module raises for a schedule that cannot
    be computed (the caller sets the job aside).
    """
    slot = job.next_run_at
    if slot is None or slot > horizon:
        return None
    schedule = job.schedule
    if slot > now:
        if job.schedule_kind == ScheduleKind.ONCE:
            return None
        following = _after(schedules.next_fire_time(schedule, after=slot), slot)
        if following is None:
            return None  # its last slot: claimed when due, like a one-off job's
        return Plan(job, slot, [slot], following, ahead=True)
    missed, fresh, note = due_slots(job, now=now, stale_before=stale_before, limit=missed_limit)
    catchup = None
    if missed and job.catchup_policy == CatchupPolicy.ONCE:
        catchup = missed[-1]
    following = schedules.next_fire_time(schedule, after=now)
    return Plan(job, slot, fresh, _after(following, now), missed, note, catchup)


def _after(following: datetime | None, moment: datetime) -> datetime | None:
    """The following slot in UTC. One not after `moment` would make beat fire the same slot forever."""
    if following is None:
        return None
    following = _utc(following)
    if following <= moment:
        raise ValueError(f"the schedule's next slot after {moment.isoformat()} is {following.isoformat()}")
    return following


def due_slots(
    job: Job, *, now: datetime, stale_before: datetime, limit: int
) -> tuple[list[datetime], list[datetime], str]:
    """A due job's slots from its next_run_at up to now: (missed, fresh, note).

    Slots before `stale_before` passed while no scheduler ran (at most
    `limit`; `note` says when later ones were not counted); the rest are
    claimed to run.
    """
    slot = job.next_run_at
    schedule = job.schedule
    if slot > stale_before:
        later = schedules.slots_between(schedule, start=slot, end=now, limit=limit)
        return [], [slot] + [_utc(s) for s in later], ""
    earlier = schedules.slots_between(schedule, start=slot, end=stale_before, limit=limit - 1)
    missed = [slot] + [_utc(s) for s in earlier]
    note = LATER_NOT_RECORDED if len(missed) >= limit else ""
    fresh = [_utc(s) for s in schedules.slots_between(schedule, start=stale_before, end=now, limit=limit)]
    return missed, fresh, note
