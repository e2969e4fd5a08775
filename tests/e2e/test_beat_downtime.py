"""Beat stopped for a few slots, then restarted: the slots are `missed`, or caught up once."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.models import RunStatus, RunTrigger
from tests.e2e.conftest import runs_of, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_slots_passed_while_beat_was_stopped_are_missed_or_caught_up_once(procs, make_job):
    # A lookahead shorter than the downtime: the slots beat claimed before it stopped still run (at
    # their ETA, on the worker); the ones after them pass while no scheduler runs.
    # (A lease under the grace, and a poll under a third of the lease, as settings require.)
    grace = {
        "JOBS_MISFIRE_GRACE_SECONDS": "2",
        "JOBS_BEAT_LOOKAHEAD_SECONDS": "2",
        "JOBS_BEAT_LEASE_SECONDS": "1.5",
        "JOBS_BEAT_POLL_SECONDS": "0.5",
    }
    lookahead = grace_period = timedelta(seconds=2)
    procs.worker()
    beat = procs.beat(**grace)
    skip = make_job(catchup_policy="skip", overlap_policy="allow")
    once = make_job(catchup_policy="once", overlap_policy="allow")
    for job in (skip, once):
        wait_for(lambda job=job: runs_of(job, status=RunStatus.SUCCEEDED), timeout=10, message="a first run")

    stopping_at = timezone.now()
    beat.stop()
    stopped_at = timezone.now()
    time.sleep(10)
    restarted_at = timezone.now()
    procs.beat(**grace)
    for job in (skip, once):
        wait_for(
            lambda job=job: runs_of(job, scheduled_for__gt=restarted_at, status=RunStatus.SUCCEEDED),
            timeout=10,
            message="runs again after the restart",
        )

    # Slots that passed more than the grace before the new beat looked at them. The new beat's first
    # pass comes after `restarted_at` (process start-up), so a slot less than the grace before
    # `restarted_at` may still be within the grace then and run late, rightly: only the slots
    # before `restarted_at - grace` are certainly missed.
    down = (stopped_at + lookahead + timedelta(seconds=1), restarted_at - grace_period)
    for job in (skip, once):
        runs = runs_of(job, trigger=RunTrigger.SCHEDULE)
        slots = [run.scheduled_for for run in runs]
        assert len(slots) == len(set(slots))
        assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(slots)), "a slot is unaccounted for"
        missed = [run for run in runs if run.status == RunStatus.MISSED]
        assert len(missed) >= 4
        assert all(run.reason == "scheduler not running" for run in missed)
        assert all(stopping_at - timedelta(seconds=1) <= run.scheduled_for <= restarted_at for run in missed)
        inside = [run for run in runs if down[0] < run.scheduled_for < down[1]]
        assert inside and all(run.status == RunStatus.MISSED for run in inside)
        # Claimed before the stop (at most the lookahead ahead): not missed, run by the worker at their slot.
        ahead = [run for run in runs if run.created_at <= stopped_at < run.scheduled_for]
        assert all(run.scheduled_for - run.created_at <= lookahead + timedelta(seconds=1.5) for run in ahead)
        for run in ahead:
            wait_for(
                lambda run=run, job=job: runs_of(job, pk=run.pk, status=RunStatus.SUCCEEDED),
                timeout=10,
                message=f"the run claimed ahead for {run.scheduled_for} to succeed (it was {run.status})",
            )
            assert runs_of(job, pk=run.pk)[0].started_at >= run.scheduled_for
    assert runs_of(skip, trigger=RunTrigger.CATCHUP) == []
    catchups = runs_of(once, trigger=RunTrigger.CATCHUP)
    assert len(catchups) == 1
    assert catchups[0].scheduled_for == max(r.scheduled_for for r in runs_of(once, status=RunStatus.MISSED))
    wait_for(
        lambda: runs_of(once, trigger=RunTrigger.CATCHUP, status=RunStatus.SUCCEEDED),
        timeout=10,
        message="the catch-up run to succeed",
    )
