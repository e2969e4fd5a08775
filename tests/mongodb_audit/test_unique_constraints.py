"""Audit 1: uniqueness is enforced by the database (a unique constraint in SQL, a unique index on MongoDB).

The app never checks-then-writes for correctness: a lost race surfaces as IntegrityError.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import IntegrityError, transaction
from rest_framework.test import APIClient

from jobs import services
from jobs.execution import claims
from jobs.models import Job, JobRun, RunTrigger

SLOT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def claim(job: Any, slot: datetime, trigger: str = RunTrigger.SCHEDULE) -> JobRun | None:
    run = claims.new_run(job, slot, trigger=trigger)
    return run if claims.claim_one(run) else None


def test_a_slot_is_claimed_once_the_second_claim_records_nothing(make_job: Any) -> None:
    job = make_job()
    first = claim(job, SLOT)
    second = claim(job, SLOT)
    assert first is not None and second is None
    assert JobRun.objects.filter(job=job, scheduled_for=SLOT).count() == 1


def test_a_duplicate_claim_key_is_an_integrity_error(make_job: Any) -> None:
    job = make_job()
    key = claims.claim_key(job.pk, SLOT, RunTrigger.SCHEDULE)
    JobRun.objects.create(job=job, scheduled_for=SLOT, trigger=RunTrigger.SCHEDULE, claim_key=key)
    with pytest.raises(IntegrityError), transaction.atomic():
        JobRun.objects.create(job=job, scheduled_for=SLOT, trigger=RunTrigger.SCHEDULE, claim_key=key)


def test_two_jobs_due_at_the_same_instant_do_not_collide(make_job: Any) -> None:
    first, second = make_job(), make_job()
    assert claim(first, SLOT) is not None
    assert claim(second, SLOT) is not None
    assert claim(first, SLOT) is None and claim(second, SLOT) is None
    assert sorted(JobRun.objects.filter(scheduled_for=SLOT).values_list("job_id", flat=True)) == sorted(
        [first.pk, second.pk]
    )


def test_a_claim_is_unique_within_its_job(make_job: Any) -> None:
    # The unique index is (job_id, claim_key), led by the runs' shard key: the job is part of
    # the claim, so the same key under another job is no conflict (the app's keys embed the job
    # id anyway) and the same key under the same job is.
    first, second = make_job(), make_job()
    JobRun.objects.create(job=first, scheduled_for=SLOT, trigger=RunTrigger.SCHEDULE, claim_key="slot-1")
    JobRun.objects.create(job=second, scheduled_for=SLOT, trigger=RunTrigger.SCHEDULE, claim_key="slot-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        JobRun.objects.create(job=first, scheduled_for=SLOT, trigger=RunTrigger.SCHEDULE, claim_key="slot-1")
    assert JobRun.objects.filter(claim_key="slot-1").count() == 2


def test_a_lost_claim_inside_a_transaction_leaves_it_usable(make_job: Any) -> None:
    # PostgreSQL aborts a transaction on an error: a claim skips a taken key
    # instead of failing (ON CONFLICT DO NOTHING, INSERT OR IGNORE; on MongoDB an
    # unordered insert whose duplicate-key errors are the lost claims).
    job = make_job()
    with transaction.atomic():
        assert claim(job, SLOT) is not None
        assert claim(job, SLOT) is None
        assert JobRun.objects.filter(job=job).count() == 1


def test_retries_and_catch_up_runs_of_one_slot_have_their_own_claims(make_job: Any) -> None:
    job = make_job()
    keys = {
        claims.claim_key(job.pk, SLOT, RunTrigger.SCHEDULE, 1),
        claims.claim_key(job.pk, SLOT, RunTrigger.RETRY, 2),
        claims.claim_key(job.pk, SLOT, RunTrigger.CATCHUP, 1),
    }
    assert len(keys) == 3
    assert claim(job, SLOT, RunTrigger.CATCHUP) is not None
    assert claim(job, SLOT) is not None


def test_manual_runs_never_collide(make_job: Any, user: Any) -> None:
    job = make_job()
    a = services.job_request_run(job=job, actor=user, send=False)
    b = services.job_request_run(job=job, actor=user, send=False)
    assert a.claim_key != b.claim_key


def test_job_names_are_unique_per_owner(make_job: Any, user: Any) -> None:
    make_job(name="nightly")
    with pytest.raises(IntegrityError), transaction.atomic():
        Job.objects.create(owner=user, name="nightly", schedule_kind="interval", action_type="task")


def test_a_create_racing_another_is_a_409_not_a_500(make_job: Any, user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    make_job(name="nightly")
    # The other create landed between the service's existence check and its insert.
    monkeypatch.setattr("django.db.models.query.QuerySet.exists", lambda self: False)
    with pytest.raises(services.DuplicateJobName):
        make_job(name="nightly")


def test_another_owner_may_reuse_a_name(make_job: Any, make_user: Any) -> None:
    make_job(name="nightly")
    assert make_job(name="nightly", owner=make_user("bob")).name == "nightly"


def test_names_differing_only_in_case_are_different_jobs(make_job: Any, login: Any, user: Any) -> None:
    # Unique constraints compare exactly on every backend (SQLite BINARY, PostgreSQL, MongoDB's simple collation).
    make_job(name="Nightly")
    make_job(name="nightly")
    response = login(user).post(
        "/api/v1/jobs/",
        {"name": "NIGHTLY", "schedule": {"phrase": "every 5 minutes"}, "action": {"type": "task", "task": "echo"}},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert Job.objects.filter(owner=user, name__iexact="nightly").count() == 3


def test_usernames_are_exact_at_login_and_may_differ_only_in_case(make_user: Any) -> None:
    alice = make_user("alice")
    make_user("Alice", password="another-Passw0rd")
    client = APIClient()
    wrong_case = client.post("/api/v1/token/", {"username": "ALICE", "password": alice.raw_password}, format="json")
    assert wrong_case.status_code == 401
    right = client.post("/api/v1/token/", {"username": "alice", "password": alice.raw_password}, format="json")
    assert right.status_code == 200
