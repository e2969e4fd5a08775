"""Audit 3: datetimes. MongoDB stores milliseconds; SQLite and PostgreSQL keep microseconds.

Nothing may depend on the sub-millisecond part of a stored instant: claim keys
are written at millisecond precision, interval anchors are whole seconds,
explain compares at milliseconds, and the optimistic check on
`Job.updated_at` advances by at least a millisecond.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from django.utils import timezone

from jobs import services
from jobs.diagnostics import explain
from jobs.execution import claims, lifecycle
from jobs.models import Job, JobRun, RunStatus

MICRO = datetime(2030, 1, 7, 9, 0, 0, 123456, tzinfo=UTC)
MILLI = MICRO.replace(microsecond=123000)


def test_claim_keys_are_written_at_millisecond_precision(make_job: Any) -> None:
    job = make_job()
    key = claims.claim_key(job.pk, MICRO)
    assert key == claims.claim_key(job.pk, MILLI)
    assert key.split("|")[1] == "2030-01-07T09:00:00.123"
    other_zone = MILLI.astimezone(timezone.get_fixed_timezone(120))
    assert claims.claim_key(job.pk, other_zone) == key


def test_the_worker_finds_its_run_by_the_slot_as_any_backend_returns_it(make_job: Any) -> None:
    # The scheduler publishes the slot it claimed; on MongoDB a slot read back has lost its microseconds.
    job = make_job()
    run = claims.new_run(job, MICRO)
    assert claims.claim_one(run)
    found = services.run_execute_slot(job_id=str(job.pk), scheduled_for=MILLI.isoformat(), worker="audit")
    assert found is not None and found.run.pk == run.pk
    assert JobRun.objects.get(pk=run.pk).status == RunStatus.SUCCEEDED


def test_interval_anchors_and_their_slots_are_whole_seconds(make_job: Any) -> None:
    with time_machine.travel(MICRO, tick=False):
        job = make_job(schedule={"kind": "interval", "every": 15, "unit": "minutes"})
    job.refresh_from_db()
    assert job.interval_anchor == MICRO.replace(microsecond=0)
    assert job.next_run_at.microsecond == 0


def test_the_optimistic_stamp_advances_by_a_millisecond_within_one_instant(make_job: Any) -> None:
    job = make_job()
    run = services.job_request_run(job=job, actor=None, send=False)
    run.status, run.finished_at = RunStatus.SUCCEEDED, timezone.now()
    with time_machine.travel(Job.objects.get(pk=job.pk).updated_at, tick=False):
        first = lifecycle.record_outcomes(job.pk, [run])
        second = lifecycle.record_outcomes(job.pk, [run])
    assert first is not None and second is not None
    assert second.updated_at - first.updated_at >= timedelta(milliseconds=1)
    assert len(Job.objects.get(pk=job.pk).recent_outcomes) == 2


def test_explain_matches_runs_to_slots_at_millisecond_precision() -> None:
    assert explain._key(MICRO) == explain._key(MILLI) == MILLI
