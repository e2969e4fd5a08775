"""Audit 5: transactions and row locks are no-ops on MongoDB, so nothing relies on them.

Processes racing on a row coordinate with single-row conditional updates
(`filter(pk=..., <expected state>).update(...)` and a check of the count);
multi-step writes are ordered so that a crash between steps leaves a state
the next call repairs. These tests run in the SQL lanes inside pytest-django's
transaction, and prove nothing depends on it: each race is played in order.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from accounts.services import user_deactivate
from jobs import services
from jobs.beat import firing, mirror, planning
from jobs.execution import claims, lifecycle
from jobs.models import EventKind, Job, JobEvent, JobRun, PauseReason, RunStatus

T0 = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def test_a_run_starts_once_a_duplicate_delivery_loses(make_job: Any, user: Any) -> None:
    run = services.job_request_run(job=make_job(), actor=user, send=False)
    twin = JobRun.objects.get(pk=run.pk)  # the same message delivered twice
    assert claims.start(run, worker="a", now=timezone.now()) is True
    assert claims.start(twin, worker="b", now=timezone.now()) is False
    assert JobRun.objects.get(pk=run.pk).worker == "a"


def test_a_run_ends_once_a_late_worker_loses_to_the_reaper(make_job: Any, user: Any) -> None:
    run = services.job_request_run(job=make_job(), actor=user, send=False)
    claims.start(run, worker="w", now=timezone.now() - timedelta(hours=1))
    assert services.runs_reap() == 1  # the reaper ends it first
    late = lifecycle.finish(run, status=RunStatus.SUCCEEDED, result="done late")
    assert late is None
    assert JobRun.objects.get(pk=run.pk).reason == "worker lost"


def test_a_stale_job_summary_write_matches_nothing(make_job: Any, user: Any) -> None:
    job = make_job()
    stale = Job.objects.get(pk=job.pk).updated_at
    services.job_pause(job=job, actor=user)  # every write advances updated_at
    assert Job.objects.filter(pk=job.pk, updated_at=stale).update(last_status=RunStatus.FAILED) == 0


def test_outcomes_are_recorded_whoever_wrote_the_job_in_between(make_job: Any, user: Any) -> None:
    job = make_job()
    done = []
    for status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
        run = services.job_request_run(job=job, actor=user, send=False)
        run.status, run.finished_at = status, timezone.now()
        services.job_update(job=Job.objects.get(pk=job.pk), actor=user, data={"description": status})
        done.append(lifecycle.record_outcomes(job.pk, [run]))
    job.refresh_from_db()
    assert [o["status"] for o in job.recent_outcomes] == [RunStatus.FAILED, RunStatus.SUCCEEDED]
    assert job.description == RunStatus.FAILED


def test_the_scheduler_advances_a_job_only_if_nobody_changed_it(make_job: Any, user: Any) -> None:
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job()
        traveller.shift(timedelta(seconds=10))
        stale = Job.objects.get(pk=job.pk)
        services.job_pause(job=Job.objects.get(pk=job.pk), actor=user)
        now = timezone.now()
        plan = planning.plan(stale, now=now, horizon=now, stale_before=now - timedelta(seconds=10), missed_limit=100)
        firing.fire([plan], now=now)
    assert Job.objects.get(pk=job.pk).next_run_at is None  # the pause stands
    run = JobRun.objects.get(job=job)
    assert (run.status, run.reason) == (RunStatus.SKIPPED, "paused")


def test_deleting_a_job_keeps_its_audit_trail_and_removes_its_runs(make_job: Any, user: Any) -> None:
    job = make_job()
    job_id = job.pk
    services.job_request_run(job=job, actor=user, send=False)
    services.job_delete(job=job, actor=user)
    assert not JobRun.objects.filter(job_id=job_id).exists()
    assert not PeriodicTask.objects.filter(name=mirror.entry_name(job_id)).exists()
    trail = JobEvent.objects.filter(job_ref=job_id)
    assert {e.kind for e in trail} == {EventKind.CREATED, EventKind.RUN_REQUESTED, EventKind.DELETED}
    assert all(e.job_id is None for e in trail)


def test_a_deactivation_interrupted_half_way_is_completed_by_running_it_again(
    make_job: Any, user: Any, staff: Any
) -> None:
    first, second = make_job(), make_job()
    # The first attempt stopped after saving the user and pausing one job.
    user.is_active = False
    user.save(update_fields=["is_active"])
    services.job_pause(job=first, actor=None, reason=PauseReason.OWNER_DEACTIVATED)
    user_deactivate(user=user, actor=staff)
    assert set(Job.objects.filter(owner=user).values_list("paused_reason", flat=True)) == {
        PauseReason.OWNER_DEACTIVATED
    }
    assert JobEvent.objects.filter(job_ref=second.pk, kind=EventKind.PAUSED).count() == 1


def test_duplicate_schedule_rows_are_folded_without_losing_a_task(make_job: Any) -> None:
    a = make_job()
    b = make_job()
    twin = IntervalSchedule.objects.create(every=10, period="seconds")
    PeriodicTask.objects.filter(name=mirror.entry_name(b.pk)).update(interval=twin)
    assert mirror.dedupe_schedules() == 1
    intervals = set(
        PeriodicTask.objects.filter(name__in=[mirror.entry_name(a.pk), mirror.entry_name(b.pk)]).values_list(
            "interval_id", flat=True
        )
    )
    assert len(intervals) == 1 and IntervalSchedule.objects.count() == 1
