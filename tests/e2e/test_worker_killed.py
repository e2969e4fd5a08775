"""A worker killed with SIGKILL mid-run leaves no run `running` once the reaper has passed."""

from __future__ import annotations

import signal

import pytest

from jobs import services
from jobs.models import JobRun, RunStatus, RunTrigger
from tests.e2e.conftest import runs_of, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_a_run_of_a_killed_worker_is_failed_by_the_reaper_and_retried(procs, make_job, user):
    worker = procs.worker()
    procs.beat()  # schedules the reaper (every 2 s here, grace 2 s)
    job = make_job(
        schedule={"kind": "interval", "every": 1, "unit": "hours"},
        action={"type": "task", "task": "sleep", "kwargs": {"seconds": 60}},
        timeout_seconds=3,
        max_retries=1,
        retry_backoff_seconds=60,
    )
    run = services.job_request_run(job=job, actor=user)
    wait_for(lambda: JobRun.objects.filter(pk=run.pk, status=RunStatus.RUNNING).exists(), timeout=10, message="running")
    procs.worker("survivor")  # runs the reaper once the first worker is gone
    worker.signal(signal.SIGKILL)
    worker.popen.wait(5)

    # 3 s timeout + 1 s hard stop + 2 s grace, plus up to one 2 s reaper period.
    run = wait_for(
        lambda: JobRun.objects.filter(pk=run.pk, status=RunStatus.FAILED).first(),
        timeout=20,
        message="the reaper to fail the lost run",
    )
    assert run.reason == "worker lost"
    assert "worker@" in run.error  # names the lost worker
    assert not JobRun.objects.filter(status=RunStatus.RUNNING).exists()
    # The retry policy applies as for any failure (the retry follows the failure by a few ms).
    retry = wait_for(lambda: runs_of(job, trigger=RunTrigger.RETRY), timeout=5, message="the retry")
    assert [(r.attempt, r.status, r.scheduled_for) for r in retry] == [(2, RunStatus.QUEUED, run.scheduled_for)]
