"""The MongoDB store (jobs.execution.store.mongodb) under the guard: its own pymongo calls, their MQL and cost.

The store's batch operations go to pymongo directly (not through the
backend's compiler), so the guard pins them here: the unordered insert of a
batch of claims (duplicate keys are the lost claims), the bulk_write of
conditional advances, the withdrawals, what one pass of beat costs in round
trips, and the writes that share a transaction on a replica set.
"""

from __future__ import annotations

import logging
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.db import connection
from django_celery_beat.models import PeriodicTask

from accounts.services import user_deactivate
from jobs import services
from jobs.beat import mirror
from jobs.beat.scheduler import JobScheduler
from jobs.execution import claims, store
from jobs.models import Job, JobEvent, JobRun, RunStatus
from scheduler_site.celery import app
from tests.mongodb import data

T0 = datetime(2030, 6, 3, 12, 0, 0, tzinfo=UTC)
EVERY_10S = {"kind": "interval", "every": 10, "unit": "seconds"}


@pytest.fixture
def clock() -> Any:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def test_it_is_the_mongodb_store() -> None:
    assert isinstance(store.current(), store.MongoStore)


# --- claims, advances, withdrawals -------------------------------------------------------------------------


def test_a_batch_of_claims_is_one_unordered_insert_whose_duplicate_keys_are_the_lost_claims(
    mql: Any, user: Any, clock: Any
) -> None:
    job, other = data.make_job(user, schedule=EVERY_10S), data.make_job(user, schedule=EVERY_10S)
    taken = claims.new_run(job, T0 + timedelta(seconds=10))
    assert claims.claim_one(taken)
    batch = [
        claims.new_run(job, T0 + timedelta(seconds=10)),  # another beat's, already claimed
        claims.new_run(job, T0 + timedelta(seconds=20)),
        claims.new_run(other, T0 + timedelta(seconds=10)),  # the same instant, another job: no conflict
    ]
    with mql.path("store.claim_with_duplicates") as log, mql.counting() as counted:
        ours = store.current().claim(batch)
    assert ours == {batch[1].id, batch[2].id}
    assert [op["op"] for op in log] == ["insert_many", "duplicate key"]
    assert counted == Counter({"insert_many": 1})  # one round trip, whatever the batch
    assert JobRun.objects.get(job=job, scheduled_for=T0 + timedelta(seconds=10)).pk == taken.pk
    assert JobRun.objects.count() == 3


def test_conditional_advances_are_one_bulk_write_and_a_changed_job_is_left_alone(
    mql: Any, user: Any, clock: Any
) -> None:
    jobs = [data.make_job(user, schedule=EVERY_10S) for _ in range(3)]
    slot = Job.objects.get(pk=jobs[0].pk).next_run_at
    Job.objects.filter(pk=jobs[1].pk).update(next_run_at=slot + timedelta(hours=1))  # an edit landed meanwhile
    rows = [(job.pk, slot, slot + timedelta(seconds=10)) for job in jobs]
    with mql.path("store.advance_some_changed") as log, mql.counting() as counted:
        moved = store.current().compare_and_set(Job, rows, check="next_run_at", assign=["next_run_at"])
    assert moved == {jobs[0].pk, jobs[2].pk}
    # One bulk_write; a read only because one advance matched nothing, to tell which.
    assert [op["op"] for op in log] == ["bulk_write", "aggregate"]
    assert counted == Counter({"bulk_write": 1, "aggregate": 1})
    assert Job.objects.get(pk=jobs[1].pk).next_run_at == slot + timedelta(hours=1)


def test_advances_that_all_match_cost_no_read(mql: Any, user: Any, clock: Any) -> None:
    jobs = [data.make_job(user, schedule=EVERY_10S) for _ in range(3)]
    slot = Job.objects.get(pk=jobs[0].pk).next_run_at
    with mql.counting() as counted:
        moved = store.current().compare_and_set(
            Job,
            [(job.pk, slot, slot + timedelta(seconds=10)) for job in jobs],
            check="next_run_at",
            assign=["next_run_at"],
        )
    assert moved == {job.pk for job in jobs} and counted == Counter({"bulk_write": 1})


def test_datetimes_compare_at_the_millisecond_mongodb_keeps(user: Any, clock: Any) -> None:
    job = data.make_job(user, schedule=EVERY_10S)
    stamp = Job.objects.get(pk=job.pk).updated_at
    later = stamp + timedelta(seconds=1, microseconds=123_456)  # stored as .123
    other = data.make_job(user, schedule=EVERY_10S)
    # Another writer moved its stamp: that advance matches nothing, so the store reads back which did.
    Job.objects.filter(pk=other.pk).update(updated_at=stamp + timedelta(seconds=5))
    rows = [(job.pk, stamp, [], later), (other.pk, stamp, [], later)]
    done = store.current().compare_and_set(Job, rows, check="updated_at", assign=["recent_outcomes", "updated_at"])
    assert done == {job.pk}  # read back at .123, still recognised as written here


def test_withdrawals_are_one_delete(mql: Any, user: Any, clock: Any) -> None:
    job = data.make_job(user, schedule=EVERY_10S, overlap_policy="allow")
    ahead = [claims.new_run(job, T0 + timedelta(seconds=s)) for s in (10, 20)]
    claims.claim(ahead)
    with mql.path("store.withdraw_ahead"), mql.counting() as counted:
        assert claims.withdraw_ahead([job.pk], now=T0) == 2
    assert counted == Counter({"delete_many": 1}) and not JobRun.objects.exists()


# --- what one pass of beat costs -----------------------------------------------------------------------------


def _due_jobs(user: Any, count: int) -> list[Job]:
    """`count` jobs due at T0+10 s: one made by the services, the rest copies of it written in bulk."""
    first = data.make_job(user, schedule=EVERY_10S)
    copies = []
    for index in range(count - 1):
        copy = Job.objects.get(pk=first.pk)
        copy.id, copy.name = uuid.uuid4(), f"{first.name}-{index}"
        copies.append(copy)
    Job.objects.bulk_create(copies, batch_size=1000)
    return [first, *copies]


@pytest.mark.parametrize("count", [1, 500])
def test_a_pass_costs_a_constant_number_of_operations_whatever_is_due(
    mql: Any, user: Any, clock: Any, published: list[Any], settings: Any, count: int
) -> None:
    settings.JOBS_BEAT_LOOKAHEAD_SECONDS = 0
    _due_jobs(user, count)
    clock.shift(timedelta(seconds=10))
    beat = JobScheduler(app=app, lazy=True, max_interval=3600)
    beat.tick_budget_seconds = 3600  # the in-memory engine is slow: let the pass end as it would on a server
    with mql.counting() as counted:
        beat.tick_jobs()
    assert JobRun.objects.filter(status=RunStatus.QUEUED).count() == count
    assert len([name for name, *_ in published if name == "jobs.run_job"]) == count
    assert set(Job.objects.values_list("next_run_at", flat=True)) == {T0 + timedelta(seconds=20)}
    # The due read (a second one when a full batch of 500 came back), the busy check (overlap `skip`),
    # one insert_many of the claims, one bulk_write of the advances, and the wake-up read.
    reads = 3 if count == beat.batch_size else 2
    assert counted == Counter({"aggregate": reads + 1, "insert_many": 1, "bulk_write": 1})
    assert sum(counted.values()) == reads + 3  # 5 for a single job, 6 for 500: was about 2 per job


# --- transactions where MongoDB has them --------------------------------------------------------------------


def test_on_a_standalone_server_the_writes_of_a_create_are_ordered_not_transactional(mql: Any, user: Any) -> None:
    assert store.current().transaction_mode.startswith("ordered writes")
    with mql.counting() as counted:
        job = data.make_job(user)
    assert "session.commit_transaction" not in counted
    assert PeriodicTask.objects.filter(name=mirror.entry_name(job.pk)).exists()


def test_on_a_replica_set_a_job_its_event_and_its_mirror_row_share_one_transaction(
    mql: Any, replica_set: Any, user: Any
) -> None:
    assert store.current().transaction_mode == "transactions"
    with mql.path("service.job_create_in_a_transaction") as log:
        job = data.make_job(user)
    writes = [op for op in log if op["op"] in ("insert_many", "update_many", "delete_many", "bulk_write")]
    assert writes and all(op.get("txn") for op in writes)
    # The per-owner job limit is a read before the transaction opens (a soft limit: see job_create);
    # every write lies between the transaction's start and its commit.
    ops = [op["op"] for op in log]
    start = ops.index("session.start_transaction")
    assert ops[-1] == "session.commit_transaction"
    assert all(index > start for index, op in enumerate(log) if op in writes)
    assert JobEvent.objects.filter(job_ref=job.pk).exists()


def test_on_a_replica_set_a_create_that_fails_half_way_leaves_nothing(
    replica_set: Any, user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mirror_fails(job: Any, **kwargs: Any) -> None:
        raise RuntimeError("the mirror write failed")

    monkeypatch.setattr(mirror, "sync_job", mirror_fails)
    with pytest.raises(RuntimeError):
        data.make_job(user, name="half-way")
    assert not Job.objects.filter(name="half-way").exists()
    assert not JobEvent.objects.filter(job_name="half-way").exists()


def test_on_a_standalone_server_a_create_that_fails_half_way_keeps_the_job_for_the_next_write_to_repair(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def mirror_fails(job: Any, **kwargs: Any) -> None:
        raise RuntimeError("the mirror write failed")

    with monkeypatch.context() as patched:
        patched.setattr(mirror, "sync_job", mirror_fails)
        with pytest.raises(RuntimeError):
            data.make_job(user, name="half-way")
    job = Job.objects.get(name="half-way")  # written first: the create's ordered writes
    services.job_update(job=job, actor=user, data={"description": "repaired"})
    assert PeriodicTask.objects.filter(name=mirror.entry_name(job.pk)).exists()


def test_on_a_replica_set_a_deactivation_pauses_the_jobs_in_the_same_transaction(
    mql: Any, replica_set: Any, user: Any, staff: Any
) -> None:
    jobs = [data.make_job(user) for _ in range(2)]
    with mql.path("service.user_deactivate_in_a_transaction") as log:
        user_deactivate(user=user, actor=staff)
    assert [op["op"] for op in log].count("session.commit_transaction") == 1
    assert not any(Job.objects.filter(pk__in=[job.pk for job in jobs]).values_list("enabled", flat=True))


def test_beat_says_at_start_which_mode_is_in_force(replica_set: Any, caplog: Any) -> None:
    beat = JobScheduler(app=app, lazy=True, max_interval=3600)
    with caplog.at_level(logging.INFO, logger="jobs.execution.store"):
        beat.setup_schedule()
    assert "beat: database mongodb; writes that belong together: transactions" in caplog.text
    assert connection.features._supports_transactions
