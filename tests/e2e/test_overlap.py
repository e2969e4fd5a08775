"""overlap_policy=skip: slots that come due while a run is still going are recorded `skipped`."""

from __future__ import annotations

import itertools

import pytest

from jobs.models import RunStatus, RunTrigger
from tests.e2e.conftest import runs_of, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_overlap_skip_records_skipped_runs_and_never_runs_two_at_once(procs, make_job):
    procs.worker()
    procs.beat()
    job = make_job(action={"type": "task", "task": "sleep", "kwargs": {"seconds": 2.5}}, overlap_policy="skip")
    wait_for(lambda: len(runs_of(job, status=RunStatus.SUCCEEDED)) >= 2, timeout=20, message="2 finished runs")

    runs = runs_of(job, trigger=RunTrigger.SCHEDULE)
    skipped = [run for run in runs if run.status == RunStatus.SKIPPED]
    executed = [run for run in runs if run.started_at is not None]
    assert len(skipped) >= 2
    assert {run.reason for run in skipped} == {"overlap"}
    assert all(run.started_at is None for run in skipped)
    # The executed runs never overlapped.
    for earlier, later in itertools.pairwise(executed):
        assert earlier.finished_at is not None and later.started_at >= earlier.finished_at
    # Every slot is accounted for, once.
    slots = [run.scheduled_for for run in runs]
    assert len(slots) == len(set(slots))
