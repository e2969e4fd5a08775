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
    grace = {"JOBS_MISFIRE_GRACE_SECONDS": "2"}
    procs.worker()
    beat = procs.beat(**grace)
    skip = make_job(catchup_policy="skip", overlap_policy="allow")
    once = make_job(catchup_policy="once", overlap_policy="allow")
    for job in (skip, once):
        wait_for(lambda job=job: runs_of(job, status=RunStatus.SUCCEEDED), timeout=10, message="a first run")

    stopping_at = timezone.now()
    beat.stop()
    stopped_at = timezone.now()
    time.sleep(8)
    restarted_at = timezone.now()
    procs.beat(**grace)
    for job in (skip, once):
        wait_for(
            lambda job=job: runs_of(job, scheduled_for__gt=restarted_at, status=RunStatus.SUCCEEDED),
            timeout=10,
            message="runs again after the restart",
        )

    # Slots that passed more than the grace before the new beat looked at them.
    down = (stopped_at + timedelta(seconds=1), restarted_at - timedelta(seconds=1))
    for job in (skip, once):
        runs = runs_of(job, trigger=RunTrigger.SCHEDULE)
        slots = [run.scheduled_for for run in runs]
        assert len(slots) == len(set(slots))
        assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(slots)), "a slot is unaccounted for"
        missed = [run for run in runs if run.status == RunStatus.MISSED]
        assert len(missed) >= 5
        assert all(run.reason == "scheduler not running" for run in missed)
        assert all(stopping_at - timedelta(seconds=1) <= run.scheduled_for <= restarted_at for run in missed)
        inside = [run for run in runs if down[0] < run.scheduled_for < down[1]]
        assert inside and all(run.status == RunStatus.MISSED for run in inside)
    assert runs_of(skip, trigger=RunTrigger.CATCHUP) == []
    catchups = runs_of(once, trigger=RunTrigger.CATCHUP)
    assert len(catchups) == 1
    assert catchups[0].scheduled_for == max(r.scheduled_for for r in runs_of(once, status=RunStatus.MISSED))
    wait_for(
        lambda: runs_of(once, trigger=RunTrigger.CATCHUP, status=RunStatus.SUCCEEDED),
        timeout=10,
        message="the catch-up run to succeed",
    )
