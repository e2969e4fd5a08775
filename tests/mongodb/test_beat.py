"""django-celery-beat as the project uses it: the job mirror (jobs.beat.mirror) and the scheduler."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

from jobs.beat import firing
from jobs.beat import mirror as beat_sync
from jobs.beat.lease import Lease, current_state
from jobs.beat.partitions import Partitions, bounds, current_states, id_filter, partition_of
from jobs.beat.scheduler import JobScheduler
from jobs.execution import claims
from jobs.models import Job, JobRun, PauseReason, RunStatus, RunTrigger
from scheduler_site.celery import app
from tests.mongodb import data

T0 = datetime(2030, 6, 3, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def clock() -> Any:
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def scheduler() -> JobScheduler:
    return JobScheduler(app=app, lazy=True, max_interval=3600)


def mirror(job: Job) -> PeriodicTask:
    return PeriodicTask.objects.get(name=beat_sync.entry_name(job.pk))


# --- the mirror --------------------------------------------------------------------------------------------


def test_sync_job_creates_the_mirror_of_a_cron_job(mql: Any, user: Any) -> None:
    job = data.make_job(user, schedule=data.CRON)
    PeriodicTask.objects.filter(name=beat_sync.entry_name(job.pk)).delete()
    with mql.path("beat_sync.sync_job_new_cron"):
        beat_sync.sync_job(job)
    assert mirror(job).crontab.timezone.key == "Europe/Paris"


def test_sync_job_moves_a_mirror_to_another_kind_and_drops_the_unused_row(mql: Any, user: Any) -> None:
    job = data.make_job(user, schedule=data.INTERVAL)
    interval_id = mirror(job).interval_id
    Job.objects.filter(pk=job.pk).update(schedule_kind="once", once_at=T0, interval_every=None, interval_unit="")
    job.refresh_from_db()
    with mql.path("beat_sync.sync_job_change_kind"):
        beat_sync.sync_job(job)
    assert mirror(job).clocked is not None
    assert not IntervalSchedule.objects.filter(pk=interval_id).exists()


def test_remove_job(mql: Any, user: Any) -> None:
    job = data.make_job(user, schedule=data.CRON)
    with mql.path("beat_sync.remove_job"):
        beat_sync.remove_job(job)
    assert not PeriodicTask.objects.filter(name__startswith="job:").exists()
    assert not CrontabSchedule.objects.exists()


def test_sync_all_repairs_and_dedupes(mql: Any, user: Any) -> None:
    kept = data.make_job(user, schedule=data.INTERVAL)
    missing = data.make_job(user, schedule=data.CRON)
    PeriodicTask.objects.filter(name=beat_sync.entry_name(missing.pk)).delete()
    Job.objects.filter(pk=kept.pk).update(enabled=False)  # written without the services
    stale_row = IntervalSchedule.objects.create(every=7, period="minutes")
    PeriodicTask.objects.create(name=f"job:{uuid.uuid4()}", task="jobs.run_job", interval=stale_row)
    IntervalSchedule.objects.create(every=5, period="minutes")  # a duplicate of kept's row
    with mql.path("beat_sync.sync_all"):
        counts = beat_sync.sync_all()
    assert counts == {"synced": 2, "removed": 1, "merged": 1}
    assert not mirror(kept).enabled


# --- the scheduler -------------------------------------------------------------------------------------------


def test_scheduler_start_installs_the_system_entries_and_resyncs_the_mirror(mql: Any, user: Any, clock: Any) -> None:
    data.make_job(user, schedule=data.CRON)
    beat = scheduler()
    with mql.path("scheduler.setup_schedule"):
        beat.setup_schedule()  # the stock entries wait for the first stock tick, after the first pass
        beat._tick_stock()
        beat._caught_up()  # once caught up, the mirror is checked on a thread of its own
        beat.mirror_check.join()
    names = set(PeriodicTask.objects.values_list("name", flat=True))
    assert {"system:reap-lost-runs", "system:prune-runs"} <= names


def test_scheduler_tick_fires_due_jobs(mql: Any, user: Any, clock: Any, published: list[Any]) -> None:
    job = data.make_job(user, schedule={"kind": "interval", "every": 10, "unit": "seconds"})
    clock.shift(timedelta(seconds=10))
    beat = scheduler()
    with mql.path("scheduler.tick_jobs_due"):
        wait = beat.tick_jobs()
    assert 0 < wait <= 10
    run = JobRun.objects.get(job=job)
    assert (run.status, run.trigger) == (RunStatus.QUEUED, RunTrigger.SCHEDULE)
    assert [name for name, *_ in published] == ["jobs.run_job"]


def test_scheduler_records_missed_slots_and_one_catch_up(mql: Any, user: Any, clock: Any, published: Any) -> None:
    job = data.make_job(user, schedule={"kind": "interval", "every": 10, "unit": "minutes"}, catchup_policy="once")
    clock.shift(timedelta(minutes=35))
    with mql.path("scheduler.tick_jobs_missed_catch_up"):
        scheduler().tick_jobs()
    statuses = sorted(JobRun.objects.filter(job=job).values_list("status", "trigger"))
    assert statuses == [
        (RunStatus.MISSED, RunTrigger.SCHEDULE),
        (RunStatus.MISSED, RunTrigger.SCHEDULE),
        (RunStatus.MISSED, RunTrigger.SCHEDULE),
        (RunStatus.QUEUED, RunTrigger.CATCHUP),
    ]


def test_scheduler_moves_on_from_a_slot_claimed_by_a_dead_scheduler(mql: Any, user: Any, clock: Any) -> None:
    job = data.make_job(user, schedule={"kind": "interval", "every": 10, "unit": "seconds"})
    clock.shift(timedelta(seconds=10))
    job.refresh_from_db()
    claims.claim_one(claims.new_run(job, job.next_run_at))  # claimed, then that scheduler died before advancing
    clock.shift(timedelta(seconds=45))
    slot = job.next_run_at
    with mql.path("scheduler.tick_jobs_claim_lost"):
        scheduler().tick_jobs()
    job.refresh_from_db()
    assert job.next_run_at > slot


def test_scheduler_sorts_out_advances_that_find_the_job_moved(
    mql: Any, user: Any, clock: Any, published: Any, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    # Between the claims ahead and the advance: one job's schedule edited, one paused, one moved on by a
    # beat that took over (as direct writes, so the path shows only the scheduler's own reads and writes).
    settings.JOBS_BEAT_LOOKAHEAD_SECONDS = 10
    edited, paused, moved = (
        data.make_job(user, schedule={"kind": "interval", "every": 10, "unit": "seconds"}, overlap_policy="allow")
        for _ in range(3)
    )
    clock.shift(timedelta(seconds=5))
    slot = T0 + timedelta(seconds=10)
    real_claim = claims.claim

    def claim_then_interfere(runs: Any) -> Any:
        ours = real_claim(runs)
        Job.objects.filter(pk=edited.pk).update(interval_every=60, next_run_at=T0 + timedelta(seconds=60))
        Job.objects.filter(pk=paused.pk).update(enabled=False, paused_reason=PauseReason.USER, next_run_at=None)
        # (Moved on from this claim, then advanced past the slot after it: what it reads back is not its own.)
        Job.objects.filter(pk=moved.pk).update(next_run_at=slot + timedelta(seconds=20))
        return ours

    monkeypatch.setattr(claims, "claim", claim_then_interfere)
    with mql.path("scheduler.tick_jobs_advance_lost"):
        scheduler().tick_jobs()
    assert list(JobRun.objects.values_list("job_id", "scheduled_for", "status")) == [(moved.pk, slot, RunStatus.QUEUED)]
    assert [name for name, *_ in published] == ["jobs.run_job"]


def test_scheduler_finishes_a_one_off_job(mql: Any, user: Any, clock: Any) -> None:
    job = data.make_job(user, schedule={"kind": "once", "at": (T0 + timedelta(minutes=1)).isoformat()})
    clock.shift(timedelta(minutes=1))
    with mql.path("scheduler.tick_jobs_one_off"):
        scheduler().tick_jobs()
    job.refresh_from_db()
    assert (job.enabled, job.paused_reason, job.next_run_at) == (False, PauseReason.FINISHED, None)


def test_scheduler_full_tick_with_stock_entries_and_sync(mql: Any, user: Any, clock: Any, published: Any) -> None:
    data.make_job(user, schedule=data.CRON)
    data.make_job(user, schedule={"kind": "once", "at": (T0 + timedelta(days=30)).isoformat()})
    beat = scheduler()
    beat.setup_schedule()
    beat._caught_up()
    beat.mirror_check.join()
    beat.tick()
    # The reaper's entry last ran an hour ago, and the change is marked: the next tick reloads and applies it.
    PeriodicTask.objects.filter(name="system:reap-lost-runs").update(last_run_at=T0 - timedelta(hours=1))
    ClockedSchedule.objects.create(clocked_time=T0 + timedelta(days=60))
    clock.shift(timedelta(seconds=1))
    PeriodicTasks.update_changed()
    clock.shift(timedelta(seconds=1))
    with mql.path("scheduler.tick"):
        beat.tick()
    assert "jobs.reap_lost_runs" in [name for name, *_ in published]
    # Applying an entry saved its run count back (Scheduler.sync, called from the tick).
    assert PeriodicTask.objects.get(name="system:reap-lost-runs").total_run_count == 1
    assert timezone.now() == T0 + timedelta(seconds=2)


# --- the lease (jobs.beat.lease): which beat is active -----------------------------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_lease_create_renew_take_over_and_release(mql: Any) -> None:
    clock = _Clock()
    first, second = Lease(holder="a", seconds=3, clock=clock), Lease(holder="b", seconds=3, clock=clock)
    with mql.path("beat_lease.create"):
        assert first.refresh()
    with mql.path("beat_lease.stand_by"):
        assert not second.refresh()
    clock.now += 1.5
    with mql.path("beat_lease.renew"):
        assert first.refresh()
    clock.now += 3.5
    second.refresh()  # sees the renewal
    clock.now += 3
    with mql.path("beat_lease.take_over"):
        assert second.refresh()
    with mql.path("beat_lease.renew_lost"):
        assert not first.refresh()
    with mql.path("beat_lease.release"):
        second.release()
    with mql.path("beat_lease.state"):
        assert current_state().holder == ""


def test_takeover_publishes_a_silent_beats_unpublished_claims(
    mql: Any, user: Any, clock: Any, published: list[Any]
) -> None:
    job = data.make_job(user, schedule={"kind": "interval", "every": 10, "unit": "seconds"})
    clock.shift(timedelta(seconds=10))
    claims.claim_one(claims.new_run(job, job.next_run_at))  # claimed, then its beat died before publishing
    with mql.path("scheduler.takeover_republish"):
        assert firing.republish_claimed_since(timezone.now() - timedelta(seconds=15)) == 1
    assert [name for name, *_ in published] == ["jobs.run_job"]


# --- partitions (jobs.beat.partitions): beats sharing the jobs ------------------------------------------------


def test_partitions_taken_shared_released(mql: Any) -> None:
    clock = _Clock()
    a = Partitions(count=2, holder="a", seconds=3, clock=clock)
    b = Partitions(count=2, holder="b", seconds=3, clock=clock)
    with mql.path("beat_partitions.first_look"):
        assert a.refresh() == [0, 1]
    with mql.path("beat_partitions.join"):
        assert b.refresh() == []
    clock.now += 0.5
    with mql.path("beat_partitions.release_beyond_share"):
        assert a.refresh() == [0]
    with mql.path("beat_partitions.take_released"):
        assert b.refresh() == [1]
    with mql.path("beat_partitions.state"):
        assert [share.lease.holder for share in current_states(2)] == ["a", "b"]
    with mql.path("beat_partitions.stop"):
        b.release()


def one_job_per_partition(user: Any, count: int) -> list[Job]:
    """A job in each partition, k-th in partition k: one made by the services (the guard's ids are small:
    partition 0), copies of it written in bulk with an id just inside each other partition."""
    first = data.make_job(user, schedule={"kind": "interval", "every": 10, "unit": "seconds"})
    jobs = [first]
    for k in range(1, count):
        copy = Job.objects.get(pk=first.pk)
        copy.id, copy.name = uuid.UUID(int=bounds(k, count)[0].int + 1), f"{first.name}-{k}"
        jobs.append(copy)
    Job.objects.bulk_create(jobs[1:])
    assert [partition_of(job.pk, count) for job in jobs] == list(range(count))
    return jobs


def test_scheduler_reads_the_jobs_of_its_partitions(mql: Any, user: Any, clock: Any, published: list[Any]) -> None:
    jobs = one_job_per_partition(user, 3)
    clock.shift(timedelta(seconds=10))
    beat = scheduler()
    beat.leases = Partitions(count=3, holder="a", seconds=3, clock=_Clock())
    beat.leases.refresh()  # alone: it holds all three
    beat.leases.leases[1].release()  # as if another beat held partition 1
    with mql.path("scheduler.tick_jobs_partitions"):
        beat.tick_jobs()
    assert set(JobRun.objects.values_list("job_id", flat=True)) == {jobs[0].pk, jobs[2].pk}


def test_takeover_of_a_partition_publishes_its_jobs_runs_only(mql: Any, user: Any, clock: Any, published: Any) -> None:
    jobs = one_job_per_partition(user, 2)
    clock.shift(timedelta(seconds=10))
    for job in jobs:
        claims.claim_one(claims.new_run(job, job.next_run_at))
    since = timezone.now() - timedelta(seconds=15)
    with mql.path("scheduler.takeover_republish_partition"):
        assert firing.republish_claimed_since(since, within=id_filter([1], 2, field="job_id")) == 1
    assert [name for name, *_ in published] == ["jobs.run_job"]
