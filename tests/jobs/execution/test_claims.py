"""Every write on a run (jobs.execution.claims): claim keys, claims, withdrawals, state changes, pruning."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from jobs.execution import claims
from jobs.models import JobRun, RunStatus, RunTrigger

pytestmark = pytest.mark.django_db

SLOT = datetime(2030, 1, 7, 9, 0, 0, 123456, tzinfo=UTC)


def test_one_function_builds_every_claim_key(make_job):
    job = make_job()
    assert claims.claim_key(job.pk, SLOT) == f"{job.pk}|2030-01-07T09:00:00.123|schedule|1"
    assert claims.claim_key(job.pk, SLOT, RunTrigger.RETRY, 3) == f"{job.pk}|2030-01-07T09:00:00.123|retry|3"
    manual = claims.new_run(job, SLOT, trigger=RunTrigger.MANUAL)
    assert manual.claim_key == f"{job.pk}|manual|{manual.id}"
    assert claims.new_run(job, SLOT).claim_key == claims.claim_key(job.pk, SLOT)


def test_a_run_made_in_a_final_state_is_finished_then(make_job):
    job = make_job()
    now = timezone.now()
    missed = claims.new_run(job, SLOT, status=RunStatus.MISSED, reason=claims.missed_reason("x"), now=now)
    assert (missed.finished_at, missed.reason) == (now, "scheduler not running; x")
    assert claims.new_run(job, SLOT).finished_at is None


def test_the_worker_finds_a_slot_by_job_and_slot(make_job):
    job, other = make_job(), make_job()
    run = claims.new_run(job, SLOT)
    assert claims.claim_one(run)
    assert claims.slot_run(job.pk, SLOT).pk == run.pk
    assert claims.slot_run(other.pk, SLOT) is None
    assert claims.claimed_at([(job.pk, SLOT), (other.pk, SLOT)]) == {job.pk: JobRun.objects.get(pk=run.pk).created_at}


def test_withdraw_ahead_removes_only_queued_scheduled_runs_still_to_come(make_job):
    job = make_job(overlap_policy="allow")
    now = timezone.now()
    ahead = claims.new_run(job, now + timedelta(seconds=5))
    due = claims.new_run(job, now - timedelta(seconds=1))
    retry = claims.new_run(job, now + timedelta(seconds=5), trigger=RunTrigger.RETRY, attempt=2)
    for run in (ahead, due, retry):
        assert claims.claim_one(run)
    assert claims.withdraw_ahead([job.pk], now=now) == 1
    assert set(JobRun.objects.values_list("pk", flat=True)) == {due.pk, retry.pk}
    assert claims.withdraw_ahead([], now=now) == 0


def test_withdraw_removes_only_the_runs_named_and_only_while_queued(make_job):
    job = make_job(overlap_policy="allow")
    now = timezone.now()
    mine, started, someone_elses = (claims.new_run(job, now + timedelta(seconds=s)) for s in (5, 6, 7))
    for run in (mine, started, someone_elses):
        assert claims.claim_one(run)
    assert claims.start(started, worker="w", now=now)
    assert claims.withdraw([mine.pk, started.pk]) == 1
    assert set(JobRun.objects.values_list("pk", flat=True)) == {started.pk, someone_elses.pk}
    assert claims.withdraw([]) == 0


def test_state_changes_happen_once(make_job):
    run = claims.new_run(make_job(), SLOT)
    claims.claim_one(run)
    twin = JobRun.objects.get(pk=run.pk)
    now = timezone.now()
    assert claims.start(run, worker="a", now=now)
    assert not claims.start(twin, worker="b", now=now)
    assert claims.end(run, expected=RunStatus.RUNNING, now=now, status=RunStatus.SUCCEEDED)
    assert not claims.end(twin, expected=RunStatus.RUNNING, now=now, status=RunStatus.FAILED)
    assert JobRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED


def test_prune_keeps_recent_and_unfinished_runs(make_job, settings):
    settings.RUNS_RETENTION_DAYS = 30
    job = make_job(overlap_policy="allow")
    now = timezone.now()
    old_done = claims.new_run(job, now - timedelta(days=31), status=RunStatus.MISSED, now=now)
    old_queued = claims.new_run(job, now - timedelta(days=32))
    recent = claims.new_run(job, now - timedelta(days=1), status=RunStatus.MISSED, now=now)
    claims.claim([old_done, old_queued, recent])
    assert claims.prune() == 1
    assert set(JobRun.objects.values_list("pk", flat=True)) == {old_queued.pk, recent.pk}
