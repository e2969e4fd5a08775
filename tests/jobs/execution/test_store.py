"""The store seam (jobs.execution.store) on the lane's database: what every implementation must mean.

The same tests run in the SQLite, PostgreSQL and live MongoDB lanes; the
MongoDB implementation's own pymongo calls are also driven by the MQL guard
(tests/mongodb/test_store.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection, transaction

from jobs.execution import claims, store
from jobs.models import Job, JobRun, RunStatus

pytestmark = pytest.mark.django_db

SLOT = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)


def test_the_store_is_chosen_by_the_database():
    current = store.current()
    expected = {"postgresql": store.PostgresStore, "mongodb": store.MongoStore}.get(connection.vendor, store.Store)
    assert type(current) is expected
    assert current.connection.alias == connection.alias


def test_claim_inserts_the_free_claims_and_skips_the_taken_ones(make_job):
    job, other = make_job(), make_job()
    taken = claims.new_run(job, SLOT)
    assert store.current().claim([taken]) == {taken.id}
    batch = [claims.new_run(job, SLOT), claims.new_run(job, SLOT + timedelta(minutes=1)), claims.new_run(other, SLOT)]
    assert store.current().claim(batch) == {batch[1].id, batch[2].id}
    assert JobRun.objects.filter(job=job, scheduled_for=SLOT).get().pk == taken.pk
    assert JobRun.objects.count() == 3
    assert store.current().claim([]) == set()


def test_a_claim_lost_inside_a_transaction_leaves_it_usable(make_job):
    job = make_job()
    with transaction.atomic():
        assert claims.claim_one(claims.new_run(job, SLOT))
        assert not claims.claim_one(claims.new_run(job, SLOT))
        assert JobRun.objects.filter(job=job).count() == 1  # still usable after the lost claim


def test_compare_and_set_updates_only_rows_still_holding_their_expected_value(make_job):
    jobs = [make_job() for _ in range(3)]
    slots = [Job.objects.get(pk=job.pk).next_run_at for job in jobs]
    Job.objects.filter(pk=jobs[1].pk).update(next_run_at=slots[1] + timedelta(hours=1))  # an edit landed
    rows = [(job.pk, slot, slot + timedelta(minutes=5)) for job, slot in zip(jobs, slots, strict=True)]
    moved = store.current().compare_and_set(Job, rows, check="next_run_at", assign=["next_run_at"])
    assert moved == {jobs[0].pk, jobs[2].pk}
    now_at = dict(Job.objects.values_list("pk", "next_run_at"))
    assert now_at[jobs[0].pk] == slots[0] + timedelta(minutes=5)
    assert now_at[jobs[1].pk] == slots[1] + timedelta(hours=1)  # the edit stands
    assert store.current().compare_and_set(Job, [], check="next_run_at", assign=["next_run_at"]) == set()


def test_compare_and_set_of_several_columns_including_json(make_job):
    job = make_job()
    stamp = Job.objects.get(pk=job.pk).updated_at
    outcomes = [{"id": "r1", "status": RunStatus.SKIPPED, "at": SLOT.isoformat()}]
    later = stamp + timedelta(seconds=1, microseconds=250_000)
    done = store.current().compare_and_set(
        Job, [(job.pk, stamp, outcomes, later)], check="updated_at", assign=["recent_outcomes", "updated_at"]
    )
    assert done == {job.pk}
    job.refresh_from_db()
    assert job.recent_outcomes == outcomes
    # Run again with the old stamp: nothing matches, nothing changes.
    assert (
        store.current().compare_and_set(
            Job, [(job.pk, stamp, [], later)], check="updated_at", assign=["recent_outcomes", "updated_at"]
        )
        == set()
    )
    assert Job.objects.get(pk=job.pk).recent_outcomes == outcomes


def test_atomic_rolls_back_together_where_the_database_has_transactions(make_job):
    job = make_job()
    current = store.current()
    with pytest.raises(RuntimeError), current.atomic():
        Job.objects.filter(pk=job.pk).update(description="half-way")
        raise RuntimeError("interrupted")
    description = Job.objects.get(pk=job.pk).description
    assert description == ("" if current.transactions else "half-way")


def test_the_transaction_mode_is_stated():
    current = store.current()
    assert current.transaction_mode == "transactions" or current.transaction_mode.startswith("ordered writes")


def test_ping_answers():
    store.current().ping(timeout=2)


def test_a_process_says_at_start_how_writes_that_belong_together_are_kept(caplog):
    import logging

    with caplog.at_level(logging.INFO, logger="jobs.execution.store"):
        mode = store.log_mode("beat")
    assert f"beat: database {store.current().kind}; writes that belong together: {mode}" in caplog.text
