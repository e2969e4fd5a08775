"""Pause and resume reach a running beat without a restart; resuming does not replay the pause."""

from __future__ import annotations

import itertools
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from jobs import services
from jobs.models import Job, RunStatus
from tests.e2e.conftest import runs_of, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_pause_stops_new_runs_and_resume_restarts_them_without_a_burst(procs, make_job, user):
    procs.worker()
    procs.beat()
    job = make_job(overlap_policy="allow")
    wait_for(lambda: len(runs_of(job, status=RunStatus.SUCCEEDED)) >= 3, timeout=15, message="3 runs before pausing")

    paused_at = timezone.now()
    services.job_pause(job=Job.objects.get(pk=job.pk), actor=user)
    time.sleep(5)
    resumed_at = timezone.now()
    services.job_resume(job=Job.objects.get(pk=job.pk), actor=user)
    wait_for(
        lambda: len(runs_of(job, scheduled_for__gt=resumed_at, status=RunStatus.SUCCEEDED)) >= 3,
        timeout=15,
        message="3 runs after resuming",
    )
    time.sleep(0.5)

    runs = runs_of(job)
    # Nothing was claimed for a slot after the pause took effect (well within 10 s) ...
    during_pause = [run for run in runs if paused_at + timedelta(seconds=1) < run.scheduled_for <= resumed_at]
    assert during_pause == []
    # ... and resuming fired only slots after the resume, one per second, not the ones slept through.
    after = [run for run in runs if run.scheduled_for > resumed_at]
    first_after = after[0].scheduled_for
    assert first_after - resumed_at <= timedelta(seconds=1)
    assert all(
        later.scheduled_for - earlier.scheduled_for == timedelta(seconds=1)
        for earlier, later in itertools.pairwise(after)
    )
    # Each slot was claimed at most the lookahead (plus a poll) before it: no burst of claims at the resume.
    ahead = timedelta(seconds=settings.JOBS_BEAT_LOOKAHEAD_SECONDS + settings.JOBS_BEAT_POLL_SECONDS + 0.5)
    assert all(run.scheduled_for - run.created_at <= ahead for run in after)
    assert all(run.started_at >= run.scheduled_for for run in after if run.started_at)  # none before its slot
    assert not [run for run in runs if run.status == RunStatus.MISSED]
