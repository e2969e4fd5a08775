"""Timeouts stop a run (soft limit, else the hard kill) as `timed_out`; failing runs retry with growing gaps."""

from __future__ import annotations

from datetime import timedelta

import pytest

from jobs import services
from jobs.execution import registry
from jobs.models import FINISHED_STATUSES, JobRun, RunStatus, RunTrigger
from tests.e2e.conftest import runs_of, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_task_sleeping_past_its_timeout_is_stopped_and_timed_out(procs, make_job, user):
    procs.worker()
    job = make_job(action={"type": "task", "task": "sleep", "kwargs": {"seconds": 60}}, timeout_seconds=2)
    run = services.job_request_run(job=job, actor=user)
    run = wait_for(
        lambda: JobRun.objects.filter(pk=run.pk, status__in=FINISHED_STATUSES).first(),
        timeout=15,
        message="the sleeping run to be stopped",
    )
    assert (run.status, run.reason) == (RunStatus.TIMED_OUT, "timeout")
    assert "timeout of 2 s" in run.error
    # Stopped at the 2 s soft limit (counted from the task's start, just before started_at).
    assert 1500 <= run.duration_ms < 4000


def test_a_task_ignoring_the_soft_limit_is_killed_at_the_hard_limit_and_timed_out(procs, make_job, user, monkeypatch):
    # The workers load the real task (tests/e2e/stubborn_task.py); here a stand-in passes validation.
    name = "e2e_ignores_soft_limit"
    monkeypatch.setitem(registry._REGISTRY, name, registry.RegisteredTask(name, lambda: None, False, ""))
    worker = procs.worker()
    job = make_job(action={"type": "task", "task": name}, timeout_seconds=2)
    run = services.job_request_run(job=job, actor=user)
    run = wait_for(
        lambda: JobRun.objects.filter(pk=run.pk, status__in=FINISHED_STATUSES).first(),
        timeout=15,
        message="the stubborn run to be killed",
    )
    assert (run.status, run.reason) == (RunStatus.TIMED_OUT, "timeout")
    assert 2500 <= run.duration_ms < 5000  # hard limit: timeout + 1 s
    assert "Hard time limit (3s) exceeded" in worker.output()


def test_a_failing_task_is_retried_the_configured_number_of_times_with_growing_gaps(procs, make_job, user):
    procs.worker()
    job = make_job(action={"type": "task", "task": "fail"}, max_retries=2, retry_backoff_seconds=1)
    services.job_request_run(job=job, actor=user)
    wait_for(
        lambda: len(runs_of(job, status__in=FINISHED_STATUSES)) == 3,
        timeout=20,
        message="the run and its 2 retries to finish",
    )
    runs = runs_of(job)
    assert [(run.trigger, run.attempt, run.status) for run in runs] == [
        (RunTrigger.MANUAL, 1, RunStatus.FAILED),
        (RunTrigger.RETRY, 2, RunStatus.FAILED),
        (RunTrigger.RETRY, 3, RunStatus.FAILED),
    ]
    assert len({run.scheduled_for for run in runs}) == 1
    first_gap = runs[1].started_at - runs[0].finished_at
    second_gap = runs[2].started_at - runs[1].finished_at
    # Backoff 1 s x 2^(attempt-1), plus up to 10 % jitter.
    assert timedelta(seconds=1) <= first_gap < timedelta(seconds=2)
    assert timedelta(seconds=2) <= second_gap < timedelta(seconds=3)
    # No fourth attempt comes.
    assert len(runs_of(job)) == 3
