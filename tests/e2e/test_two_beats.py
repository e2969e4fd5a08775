"""Two beats running at once (a common operator mistake) still yield exactly one run per slot."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from jobs.models import RunStatus, RunTrigger
from tests.e2e.conftest import runs_of, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_two_beats_yield_exactly_one_run_per_slot(procs, make_job):
    procs.worker()
    first, second = procs.beat("beat-1"), procs.beat("beat-2")
    jobs = [make_job(overlap_policy="allow") for _ in range(3)]
    for job in jobs:
        wait_for(
            lambda job=job: len(runs_of(job, status=RunStatus.SUCCEEDED)) >= 8, timeout=20, message="8 runs per job"
        )
    for job in jobs:
        runs = runs_of(job, scheduled_for__lte=runs_of(job, status=RunStatus.SUCCEEDED)[-1].scheduled_for)
        slots = [run.scheduled_for for run in runs]
        assert len(slots) == len(set(slots)), "a slot ran twice"
        assert all(b - a == timedelta(seconds=1) for a, b in itertools.pairwise(slots)), "a slot is missing"
        assert {(run.trigger, run.status) for run in runs} == {(RunTrigger.SCHEDULE, RunStatus.SUCCEEDED)}
    assert first.popen.poll() is None and second.popen.poll() is None
