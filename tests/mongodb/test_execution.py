"""The run task, retries and auto-pause, the reaper, the retention cleanup, explain and the commands."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import pytest
from celery.exceptions import TimeLimitExceeded
from django.core.management import call_command
from django.utils import timezone

from jobs import services
from jobs.diagnostics import explain
from jobs.execution import claims
from jobs.models import EventKind, JobRun, PauseReason, RunStatus, RunTrigger
from jobs.tasks import execute_run, prune_runs, reap_lost_runs, run_job
from tests.mongodb import data


def claimed_slot(job: Any, *, ago: timedelta = timedelta(seconds=1)) -> JobRun:
    slot = (timezone.now() - ago).replace(microsecond=0)
    run = claims.new_run(job, slot)
    assert claims.claim_one(run) and run.status == RunStatus.QUEUED
    return run


def run_slot(run: JobRun) -> None:
    run_job.apply(args=[str(run.job_id), run.scheduled_for.isoformat()], throw=True)


# --- the run task ----------------------------------------------------------------------------------------


def test_run_task_executes_a_claimed_slot(mql: Any, user: Any) -> None:
    run = claimed_slot(data.make_job(user))
    with mql.path("task.run_job"):
        run_slot(run)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.job.last_status == RunStatus.SUCCEEDED


def test_run_task_http_action(mql: Any, user: Any) -> None:
    run = claimed_slot(data.make_job(user, action=data.http_action()))
    with mql.path("task.run_job_http"):
        run_slot(run)  # nothing listens on port 1: a connection error, recorded as failed
    run.refresh_from_db()
    assert (run.status, run.reason) == (RunStatus.FAILED, "connection error")


def test_run_task_failure_schedules_a_retry(mql: Any, user: Any, published: Any) -> None:
    job = data.make_job(user, action=data.task_action("fail"), max_retries=1)
    run = claimed_slot(job)
    with mql.path("task.run_job_failed_retry"):
        run_slot(run)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    retry = JobRun.objects.get(job=job, trigger=RunTrigger.RETRY)
    assert (retry.attempt, retry.status) == (2, RunStatus.QUEUED)
    assert [name for name, *_ in published] == ["jobs.execute_run"]


def test_run_task_failure_pauses_the_job_after_too_many(mql: Any, user: Any) -> None:
    job = data.make_job(user, action=data.task_action("fail"), pause_after_failures=1)
    run = claimed_slot(job)
    with mql.path("task.run_job_failed_auto_pause"):
        run_slot(run)
    job.refresh_from_db()
    assert (job.enabled, job.paused_reason, job.consecutive_failures) == (False, PauseReason.AUTO, 1)


def test_run_task_of_a_paused_job_is_skipped(mql: Any, user: Any) -> None:
    job = data.make_job(user)
    run = claimed_slot(job)
    services.job_pause(job=job, actor=user)
    with mql.path("task.run_job_paused"):
        run_slot(run)
    run.refresh_from_db()
    assert (run.status, run.reason) == (RunStatus.SKIPPED, "paused")


def test_run_task_without_a_claimed_run(mql: Any, user: Any) -> None:
    job = data.make_job(user)
    with mql.path("task.run_job_unclaimed"):
        run_job.apply(args=[str(job.pk), timezone.now().isoformat()], throw=True)
    assert not JobRun.objects.filter(job=job).exists()


def test_execute_run_task_and_a_duplicate_delivery(mql: Any, user: Any) -> None:
    job = data.make_job(user)
    run = services.job_request_run(job=job, actor=user, send=False)
    with mql.path("task.execute_run"):
        execute_run.apply(args=[str(run.pk)], throw=True)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    with mql.path("task.execute_run_duplicate"):
        execute_run.apply(args=[str(run.pk)], throw=True)  # already finished: the conditional start loses
    assert JobRun.objects.get(pk=run.pk).finished_at == run.finished_at


def test_hard_time_limit_marks_the_run_timed_out(mql: Any, user: Any) -> None:
    run = claimed_slot(data.make_job(user))
    claims.start(run, worker="guard-worker", now=timezone.now())
    with mql.path("task.hard_timeout"):
        run_job.on_failure(TimeLimitExceeded(), "task-id", [str(run.job_id), run.scheduled_for.isoformat()], {}, None)
    run.refresh_from_db()
    assert (run.status, run.reason) == (RunStatus.TIMED_OUT, "timeout")


# --- the reaper and the retention cleanup -------------------------------------------------------------------


def test_reaper_fails_runs_whose_worker_is_gone(mql: Any, user: Any, settings: Any) -> None:
    job = data.make_job(user, max_retries=1)
    long_ago = timezone.now() - timedelta(hours=2)
    running = claimed_slot(job, ago=timedelta(hours=2))
    claims.start(running, worker="guard-worker", now=long_ago)
    queued = services.job_request_run(job=job, actor=user, send=False)
    JobRun.objects.filter(pk=queued.pk).update(created_at=long_ago)
    with mql.path("task.reap_lost_runs"):
        reaped = reap_lost_runs.apply(throw=True).get()
    assert reaped == 2
    assert set(JobRun.objects.filter(reason__in=["worker lost", "not started"]).values_list("reason", flat=True)) == {
        "worker lost",
        "not started",
    }


def test_retention_cleanup_deletes_old_finished_runs_only(mql: Any, user: Any) -> None:
    job = data.make_job(user)
    old = data.make_run(job, status=RunStatus.SUCCEEDED, ago=timedelta(days=40))
    stuck = claimed_slot(job, ago=timedelta(days=41))
    recent = data.make_run(job, status=RunStatus.FAILED, ago=timedelta(days=1))
    with mql.path("task.prune_runs"):
        deleted = prune_runs.apply(throw=True).get()
    assert deleted == 1
    assert set(JobRun.objects.values_list("pk", flat=True)) == {stuck.pk, recent.pk}
    assert not JobRun.objects.filter(pk=old.pk).exists()


def test_retention_cleanup_as_a_scheduled_system_task(mql: Any, staff: Any) -> None:
    job = data.make_job(staff, action=data.task_action("cleanup_runs", days=30))
    run = claimed_slot(job)
    with mql.path("task.run_job_cleanup_runs"):
        run_slot(run)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error


# --- explain and the management commands ------------------------------------------------------------------


@pytest.fixture
def history(user: Any) -> Any:
    """A job with a schedule edit, a pause and runs of several outcomes."""
    job = data.make_job(user, name="explained", max_retries=1)
    data.make_run(job, status=RunStatus.SUCCEEDED, ago=timedelta(minutes=20))
    data.make_run(job, status=RunStatus.FAILED, ago=timedelta(minutes=15))
    services.job_pause(job=job, actor=user)
    services.job_resume(job=job, actor=user)
    services.job_update(job=job, actor=user, data={"schedule": {"phrase": "every 10 minutes"}})
    services.job_request_run(job=job, actor=user, send=False)
    return job


def test_explain(mql: Any, history: Any) -> None:
    now = timezone.now()
    with mql.path("explain.service"):
        explanation = explain.explain(history, since=now - timedelta(hours=1), now=now)
    assert len(explanation.schedules) == 2
    assert explanation.other_runs


def test_explain_command(mql: Any, history: Any) -> None:
    out = io.StringIO()
    with mql.path("command.explain"):
        call_command("explain", str(history.pk), "--since", "1h", "--json", stdout=out, stderr=io.StringIO())
    assert '"name": "explained"' in out.getvalue()
    with mql.path("command.explain_text"):
        call_command("explain", str(history.pk), "--since", "1h", "--all", stdout=out, stderr=io.StringIO())
    assert "explained" in out.getvalue()


def test_run_job_command(mql: Any, user: Any) -> None:
    job = data.make_job(user)
    with mql.path("command.run_job"):
        call_command("run_job", str(job.pk), stdout=io.StringIO(), stderr=io.StringIO())
    assert JobRun.objects.get(job=job).status == RunStatus.SUCCEEDED


def test_seed_demo_command(mql: Any) -> None:
    with mql.path("command.seed_demo"):
        call_command("seed_demo", "--password", "demo-password-1", stdout=io.StringIO())
    with mql.path("command.seed_demo_again"):
        call_command("seed_demo", "--password", "demo-password-2", stdout=io.StringIO())


def test_deactivating_a_user_pauses_their_jobs(mql: Any, user: Any, staff: Any) -> None:
    from accounts.services import user_deactivate

    data.make_job(user)
    data.make_job(user, schedule=data.CRON)
    with mql.path("service.user_deactivate"):
        user_deactivate(user=user, actor=staff)
    assert list(user.jobs.values_list("paused_reason", flat=True)) == [PauseReason.OWNER_DEACTIVATED] * 2
    assert user.jobs.first().events.filter(kind=EventKind.PAUSED, actor_name="system").exists()
