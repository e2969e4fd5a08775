"""The beat scheduler (jobs.beat.scheduler.JobScheduler) driven with a controlled clock.

One path on every database: these tests run in the SQLite, PostgreSQL and
(with a server) MongoDB lanes alike.

Transactional: the scheduler closes stale connections and commits like a
real beat, which the rolled-back `db` fixture does not allow.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta

import pytest
import time_machine
from django.conf import settings as django_settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from jobs import schedules, services
from jobs.beat import firing, planning
from jobs.beat.lease import Lease, current_state
from jobs.beat.partitions import Partitions
from jobs.beat.scheduler import JobScheduler
from jobs.execution import claims, dispatch, lifecycle, policies
from jobs.models import Job, JobRun, PauseReason, RunStatus, RunTrigger
from scheduler_site import metrics
from scheduler_site.celery import app

pytestmark = pytest.mark.django_db(transaction=True)

T0 = datetime(2025, 6, 2, 12, 0, 0, tzinfo=UTC)


def every(seconds: int) -> dict:
    return {"kind": "interval", "every": seconds, "unit": "seconds"}


def new_scheduler() -> JobScheduler:
    # lazy: no system entries installed, so nothing but jobs is ever published.
    return JobScheduler(app=app, lazy=True, max_interval=3600)


def drive(scheduler: JobScheduler, traveller, until: datetime, max_ticks: int = 20_000) -> None:
    """Tick, then move the clock by exactly the wait the scheduler asked for."""
    for _ in range(max_ticks):
        if timezone.now() >= until:
            return
        wait = scheduler.tick()
        traveller.shift(timedelta(seconds=max(wait, 1e-6)))
    raise AssertionError("the scheduler never reached the end time")


def utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


def run_slots(job, *, before: datetime | None = None) -> list[datetime]:
    """The slots the job has runs for (withdrawn claims are gone), optionally only those before a time."""
    rows = JobRun.objects.filter(job=job, trigger=RunTrigger.SCHEDULE).order_by("scheduled_for")
    if before is not None:
        rows = rows.filter(scheduled_for__lt=before)
    return list(rows.values_list("scheduled_for", flat=True))


def fire_now(*jobs: Job, stale_before: datetime | None = None) -> None:
    """One pass's work for these jobs as read (a batch of them), when due, as beat does it."""
    now = timezone.now()
    grace = timedelta(seconds=django_settings.JOBS_MISFIRE_GRACE_SECONDS)
    limit = django_settings.JOBS_MISSED_RECORD_LIMIT
    plans = [
        planning.plan(job, now=now, horizon=now, stale_before=stale_before or now - grace, missed_limit=limit)
        for job in jobs
    ]
    firing.fire([plan for plan in plans if plan is not None], now=now)


def claim(job, slot) -> None:
    """A claim made by another beat (which may then die before advancing the job)."""
    assert claims.claim_one(claims.new_run(job, slot))


def after_the_claims(monkeypatch, action) -> None:
    """Run `action` right after a pass has inserted its claims, before it advances the jobs."""
    real_claim = claims.claim

    def claim_then_act(runs):
        ours = real_claim(runs)
        action()
        return ours

    monkeypatch.setattr(claims, "claim", claim_then_act)


def execute(run, *, worker="w"):
    """What the worker does with a slot's message."""
    return services.run_execute_slot(job_id=str(run.job_id), scheduled_for=run.scheduled_for.isoformat(), worker=worker)


#: Both ways beat can claim a slot: when it is due, and (the default) up to 10 s ahead with an ETA.
LOOKAHEADS = [pytest.param(0.0, id="claimed-when-due"), pytest.param(10.0, id="claimed-ahead")]


@pytest.fixture
def claims_ahead(settings) -> float:
    settings.JOBS_BEAT_LOOKAHEAD_SECONDS = 10
    return 10.0


@pytest.fixture(params=LOOKAHEADS)
def lookahead(request, settings) -> float:
    settings.JOBS_BEAT_LOOKAHEAD_SECONDS = request.param
    return request.param


@pytest.fixture
def when_due(settings) -> None:
    """For tests of what happens to a slot reached when (or after) it is due."""
    settings.JOBS_BEAT_LOOKAHEAD_SECONDS = 0


# --- DST: the scheduler fires exactly where jobs.schedules says -----------------------------------

BERLIN_CRONS = ["30 2 * * *", "0,30 1-3 * * *", "*/20 * * * *", "0 * * * *", "15 3 * * 0"]


@pytest.mark.parametrize(
    "day",
    [pytest.param(date(2025, 3, 30), id="spring-forward"), pytest.param(date(2025, 10, 26), id="fall-back")],
)
def test_fire_instants_across_a_berlin_dst_day_equal_the_schedules_module(day, make_job, sent, settings, lookahead):
    settings.JOBS_BEAT_POLL_SECONDS = 3600  # wake only for slots (and hourly)
    start = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=2)
    end = start + timedelta(hours=28)
    with time_machine.travel(start, tick=False) as traveller:
        jobs = [
            make_job(schedule={"kind": "cron", "cron": cron, "timezone": "Europe/Berlin"}, overlap_policy="allow")
            for cron in BERLIN_CRONS
        ]
        jobs.append(
            make_job(
                schedule={"kind": "interval", "every": 90, "unit": "minutes", "timezone": "Europe/Berlin"},
                overlap_policy="allow",
            )
        )
        drive(new_scheduler(), traveller, end)

    for job in jobs:
        expected = [utc(t) for t in schedules.next_fire_times(job.schedule, after=start, count=500) if t < end]
        fired = [(run.scheduled_for, at, countdown) for run, countdown, at in sent.slots if run.job_id == job.pk]
        fired = [entry for entry in fired if entry[0] < end]  # not those claimed ahead of the end
        assert [slot for slot, _, _ in fired] == expected, job.cron or job.interval_every
        # Each run starts at its instant: published then, or up to the lookahead before with the
        # slot as its ETA (the clock only moves as far as the scheduler asks).
        for slot, at, countdown in fired:
            assert timedelta(0) <= slot - at <= timedelta(seconds=lookahead)
            assert abs(at + timedelta(seconds=countdown) - slot) < timedelta(milliseconds=1)
        assert run_slots(job, before=end) == expected
    # The DST rules in action, for the record.
    fixed = sent.slot_times(jobs[0])  # 30 2 * * *
    if day.month == 3:
        assert datetime(2025, 3, 30, 1, 0, tzinfo=UTC) in fixed  # 02:30 does not exist: 03:00 CEST
    else:
        assert datetime(2025, 10, 26, 0, 30, tzinfo=UTC) in fixed  # 02:30 CEST only, not 02:30 CET
        assert datetime(2025, 10, 26, 1, 30, tzinfo=UTC) not in fixed


# --- one tick, many jobs -------------------------------------------------------------------------


def test_one_tick_fires_every_due_job(make_job, sent, when_due):
    with time_machine.travel(T0, tick=False) as traveller:
        jobs = [make_job(schedule=every(10)) for _ in range(25)]
        scheduler = new_scheduler()
        scheduler.batch_size = 10  # three batches
        traveller.shift(timedelta(seconds=10))
        scheduler.tick()
    assert sorted(run.job_id for run, _, _ in sent.slots) == sorted(job.pk for job in jobs)
    assert not Job.objects.filter(next_run_at__lte=T0 + timedelta(seconds=10)).exists()


def test_the_wait_is_until_the_next_slot_at_most_the_poll_interval(make_job, sent, settings, when_due):
    settings.JOBS_BEAT_POLL_SECONDS = 5
    with time_machine.travel(T0, tick=False) as traveller:
        make_job(schedule=every(10))
        scheduler = new_scheduler()
        assert scheduler.tick() == pytest.approx(5)
        traveller.shift(timedelta(seconds=7))
        assert scheduler.tick() == pytest.approx(3)


def test_the_wait_is_until_the_next_slot_comes_within_the_lookahead(make_job, sent, settings, claims_ahead):
    settings.JOBS_BEAT_POLL_SECONDS = 5
    settings.JOBS_BEAT_LOOKAHEAD_SECONDS = 4
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10))
        scheduler = new_scheduler()
        assert scheduler.tick() == pytest.approx(5)  # T0+10 comes within reach at T0+6
        traveller.shift(timedelta(seconds=5))
        assert scheduler.tick() == pytest.approx(1)
        assert sent.slots == []
        traveller.shift(timedelta(seconds=1))
        assert scheduler.tick() == pytest.approx(5)  # claimed T0+10; T0+20 comes within reach at T0+16
    ((run, countdown, at),) = sent.slots
    assert (run.job_id, run.scheduled_for, run.status) == (job.pk, T0 + timedelta(seconds=10), RunStatus.QUEUED)
    assert (at, countdown) == (T0 + timedelta(seconds=6), pytest.approx(4))
    assert Job.objects.get(pk=job.pk).next_run_at == T0 + timedelta(seconds=20)


def test_a_slot_is_claimed_by_one_scheduler_only(make_job, sent, when_due):
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10))
        traveller.shift(timedelta(seconds=10))
        # Both beats read the job before either advanced it.
        seen_by_a, seen_by_b = Job.objects.get(pk=job.pk), Job.objects.get(pk=job.pk)
        fire_now(seen_by_a)
        fire_now(seen_by_b)
    assert len(sent.slots) == 1
    assert JobRun.objects.filter(job=job).count() == 1


class _BelievesItHolds(Lease):
    """A beat that thinks it is active whatever the row says: one frozen mid-pass and woken after a takeover."""

    def refresh(self) -> bool:
        return True


def test_two_schedulers_ticking_together_publish_each_slot_once(make_job, sent, lookahead):
    # The lease keeps a second beat idle; the claims, not the lease, keep a slot from running twice.
    with time_machine.travel(T0, tick=False) as traveller:
        jobs = [make_job(schedule=every(10), overlap_policy="allow") for _ in range(5)]
        a, b = new_scheduler(), new_scheduler()
        a.leases, b.leases = Partitions(lease=_BelievesItHolds()), Partitions(lease=_BelievesItHolds())
        for _ in range(6):
            traveller.shift(timedelta(seconds=10))
            a.tick()
            b.tick()
    reached = 7 if lookahead else 6  # T0+70 is within the lookahead at T0+60
    for job in jobs:
        times = sent.slot_times(job)
        assert sorted(times) == [T0 + timedelta(seconds=10 * n) for n in range(1, reached + 1)]
        assert run_slots(job) == sorted(times)


def test_jitter_delays_the_start_by_the_jobs_offset(make_job, sent, when_due):
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(60), jitter_seconds=30)
        traveller.shift(timedelta(seconds=60))
        new_scheduler().tick()
    _run, countdown, _ = sent.slots[0]
    assert countdown == pytest.approx(policies.jitter_offset(job))
    assert 0 < countdown <= 30


# --- edits, pause, resume -------------------------------------------------------------------------


def test_pause_stops_firing_and_resume_waits_for_the_next_slot(make_job, user, sent, lookahead):
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10), overlap_policy="allow")
        scheduler = new_scheduler()
        drive(scheduler, traveller, T0 + timedelta(seconds=25))  # fires :10 and :20 (and :30 ahead)
        services.job_pause(job=Job.objects.get(pk=job.pk), actor=user)  # withdraws :30
        drive(scheduler, traveller, T0 + timedelta(seconds=65))  # nothing while paused
        services.job_resume(job=Job.objects.get(pk=job.pk), actor=user)
        drive(scheduler, traveller, T0 + timedelta(seconds=85))
    expected = [T0 + timedelta(seconds=s) for s in (10, 20, 70, 80)]
    assert run_slots(job, before=T0 + timedelta(seconds=85)) == expected
    assert not JobRun.objects.filter(job=job, status=RunStatus.MISSED).exists()
    if lookahead:
        withdrawn = T0 + timedelta(seconds=30)
        assert withdrawn in sent.slot_times(job)  # published before the pause...
        assert (
            services.run_execute_slot(job_id=str(job.pk), scheduled_for=withdrawn.isoformat(), worker="w") is None
        )  # ...and runs nothing
    else:
        assert sent.slot_times(job) == expected


def test_a_schedule_edit_is_seen_at_the_next_tick(make_job, user, sent, lookahead):
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10), overlap_policy="allow")
        scheduler = new_scheduler()
        drive(scheduler, traveller, T0 + timedelta(seconds=15))  # :10 (and :20 claimed ahead)
        services.job_update(job=Job.objects.get(pk=job.pk), actor=user, data={"schedule": every(30)})
        drive(scheduler, traveller, T0 + timedelta(seconds=80))
    # Re-anchored at the edit (T0+15): slots every 30 s from there. The old :20 never runs.
    expected = [T0 + timedelta(seconds=s) for s in (10, 45, 75)]
    assert run_slots(job) == expected
    assert [t for t in sent.slot_times(job) if t != T0 + timedelta(seconds=20)] == expected


def test_an_edit_keeping_the_next_slot_lets_it_be_claimed_again(make_job, user, sent, settings, claims_ahead):
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule={"kind": "cron", "cron": "* * * * *"}, overlap_policy="allow")
        scheduler = new_scheduler()
        traveller.shift(timedelta(seconds=55))
        scheduler.tick()  # 12:01 claimed ahead
        # The same instants, said another way: the claim is withdrawn and made again.
        services.job_update(
            job=Job.objects.get(pk=job.pk), actor=user, data={"schedule": {"kind": "cron", "cron": "*/1 * * * *"}}
        )
        assert run_slots(job) == []
        scheduler.tick()
        traveller.shift(timedelta(seconds=5))
        scheduler.tick()
    slot = T0 + timedelta(minutes=1)
    assert sent.slot_times(job) == [slot, slot]  # two messages, one run
    assert run_slots(job) == [slot]
    run = JobRun.objects.get(job=job)
    for _message in range(2):
        services.run_execute_slot(job_id=str(job.pk), scheduled_for=slot.isoformat(), worker="w")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert JobRun.objects.filter(job=job).count() == 1


def test_a_pause_landing_between_claim_and_advance_starts_nothing(make_job, user, sent, when_due):
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10))
        traveller.shift(timedelta(seconds=10))
        stale = Job.objects.get(pk=job.pk)
        services.job_pause(job=Job.objects.get(pk=job.pk), actor=user)
        fire_now(stale)
    assert sent.slots == []
    run = JobRun.objects.get(job=job)
    assert (run.status, run.reason) == (RunStatus.SKIPPED, "paused")
    assert Job.objects.get(pk=job.pk).next_run_at is None


def test_a_one_off_job_fires_once_and_is_finished(make_job, sent):
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule={"kind": "once", "at": (T0 + timedelta(seconds=30)).isoformat()})
        drive(new_scheduler(), traveller, T0 + timedelta(seconds=120))
        job.refresh_from_db()
        assert sent.slot_times(job) == [T0 + timedelta(seconds=30)]
        assert (job.enabled, job.paused_reason, job.next_run_at) == (False, PauseReason.FINISHED, None)
        run = JobRun.objects.select_related("job").get(job=job)
        execute(run)  # a finished one-off still runs its slot
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED


# --- downtime: catchup_policy -------------------------------------------------------------------------


def test_slots_passed_while_beat_was_down_are_recorded_missed(make_job, sent, settings, when_due):
    settings.JOBS_MISFIRE_GRACE_SECONDS = 10
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10), catchup_policy="skip")
        traveller.shift(timedelta(seconds=65))  # beat starts now: slots :10 ... :60 passed
        new_scheduler().tick()
    missed = JobRun.objects.filter(job=job, status=RunStatus.MISSED).order_by("scheduled_for")
    assert [r.scheduled_for for r in missed] == [T0 + timedelta(seconds=s) for s in (10, 20, 30, 40, 50)]
    assert all(r.trigger == RunTrigger.SCHEDULE and r.reason == "scheduler not running" for r in missed)
    # :60 is within the grace: it runs, late.
    assert sent.slot_times(job) == [T0 + timedelta(seconds=60)]
    job.refresh_from_db()
    assert job.next_run_at == T0 + timedelta(seconds=70)
    assert [o["status"] for o in job.recent_outcomes] == ["missed"] * 5


def test_catchup_once_runs_a_single_catch_up_run(make_job, sent, settings, when_due):
    settings.JOBS_MISFIRE_GRACE_SECONDS = 10
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule={"kind": "cron", "cron": "* * * * *"}, catchup_policy="once")
        traveller.shift(timedelta(minutes=5, seconds=30))  # 12:01 ... 12:05 passed, none within the grace
        new_scheduler().tick()
    assert JobRun.objects.filter(job=job, status=RunStatus.MISSED).count() == 5
    (catchup, _countdown, _) = sent.runs[0]
    assert len(sent.runs) == 1 and sent.slots == []
    assert (catchup.trigger, catchup.status, catchup.scheduled_for) == (
        RunTrigger.CATCHUP,
        RunStatus.QUEUED,
        T0 + timedelta(minutes=5),
    )
    assert Job.objects.get(pk=job.pk).next_run_at == T0 + timedelta(minutes=6)


def test_catchup_once_comes_before_an_on_time_slot_which_overlap_skip_then_skips(make_job, sent, settings, when_due):
    settings.JOBS_MISFIRE_GRACE_SECONDS = 10
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10), catchup_policy="once", overlap_policy="skip")
        traveller.shift(timedelta(seconds=62))  # :10 ... :50 missed, :60 on time
        new_scheduler().tick()
    assert JobRun.objects.filter(job=job, status=RunStatus.MISSED).count() == 5
    assert [(run.trigger, run.scheduled_for) for run, _, _ in sent.runs] == [
        (RunTrigger.CATCHUP, T0 + timedelta(seconds=50))
    ]
    on_time = JobRun.objects.get(job=job, scheduled_for=T0 + timedelta(seconds=60))
    assert (on_time.status, on_time.reason) == (RunStatus.SKIPPED, "overlap")
    assert sent.slots == []


def test_missed_runs_are_bounded(make_job, sent, settings, when_due):
    settings.JOBS_MISFIRE_GRACE_SECONDS = 10
    settings.JOBS_MISSED_RECORD_LIMIT = 3
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10))
        traveller.shift(timedelta(hours=1))
        new_scheduler().tick()
    missed = list(JobRun.objects.filter(job=job, status=RunStatus.MISSED).order_by("scheduled_for"))
    assert len(missed) == 3
    assert "not recorded" in missed[-1].reason
    assert Job.objects.get(pk=job.pk).next_run_at == T0 + timedelta(hours=1, seconds=10)


def test_a_job_left_at_a_claimed_slot_by_a_dead_scheduler_moves_on(make_job, sent, settings, when_due):
    settings.JOBS_MISFIRE_GRACE_SECONDS = 10
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10), overlap_policy="allow")
        traveller.shift(timedelta(seconds=10))
        claim(job, T0 + timedelta(seconds=10))  # claimed, then that scheduler died
        scheduler = new_scheduler()
        scheduler.tick()
        # A fresh claim may belong to a scheduler about to advance the job: wait.
        assert Job.objects.get(pk=job.pk).next_run_at == T0 + timedelta(seconds=10)
        traveller.shift(timedelta(seconds=31))
        wait = scheduler.tick()  # the claim is 31 s old: move on to the slot after it
        assert Job.objects.get(pk=job.pk).next_run_at == T0 + timedelta(seconds=20)
        assert 0 < wait <= 0.05  # due again: back shortly
        traveller.shift(timedelta(seconds=wait))
        scheduler.tick()
    missed = JobRun.objects.filter(job=job, status=RunStatus.MISSED).order_by("scheduled_for")
    assert [r.scheduled_for for r in missed] == [T0 + timedelta(seconds=20), T0 + timedelta(seconds=30)]
    assert sent.slot_times(job) == [T0 + timedelta(seconds=40)]
    assert Job.objects.get(pk=job.pk).next_run_at == T0 + timedelta(seconds=50)


def test_a_slot_a_busy_scheduler_reaches_late_is_fired_not_missed(make_job, sent, settings, when_due):
    settings.JOBS_MISFIRE_GRACE_SECONDS = 10
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(60))
        scheduler = new_scheduler()
        fire_batch = scheduler._fire_batch
        scheduler._fire_batch = lambda jobs, **kwargs: []  # busy with other jobs: this one is not reached
        for _ in range(17):  # ticking every 5 s, up to T0+85
            traveller.shift(timedelta(seconds=5))
            scheduler.tick()
        scheduler._fire_batch = fire_batch
        traveller.shift(timedelta(seconds=1))
        scheduler.tick()  # the slot at T0+60 is 26 s old, but beat never stopped
    assert sent.slot_times(job) == [T0 + timedelta(seconds=60)]
    assert not JobRun.objects.filter(job=job, status=RunStatus.MISSED).exists()


def outcomes(job) -> list[tuple]:
    rows = JobRun.objects.filter(job=job).order_by("scheduled_for")
    return list(rows.values_list("scheduled_for", "status", "reason"))


@pytest.mark.parametrize("overlap", ["skip", "allow"])
def test_several_late_slots_of_many_jobs_go_out_in_one_batch(make_job, sent, settings, overlap, when_due):
    settings.JOBS_MISFIRE_GRACE_SECONDS = 10
    with time_machine.travel(T0, tick=False) as traveller:
        jobs = [make_job(schedule=every(10), overlap_policy=overlap) for _ in range(3)]
        scheduler = new_scheduler()
        fire_batch = scheduler._fire_batch
        scheduler._fire_batch = lambda jobs, **kwargs: []  # busy elsewhere: these jobs fall behind
        for _ in range(8):  # ticking every 5 s, up to T0+40
            traveller.shift(timedelta(seconds=5))
            scheduler.tick()
        scheduler._fire_batch = fire_batch
        traveller.shift(timedelta(seconds=1))
        scheduler.tick()

    slots = [T0 + timedelta(seconds=s) for s in (10, 20, 30, 40)]
    # Overlap `skip`: the first late slot runs, the others are skipped (it is still queued).
    statuses = ["queued", "skipped", "skipped", "skipped"] if overlap == "skip" else ["queued"] * 4
    for job in jobs:
        assert [(slot, status) for slot, status, _ in outcomes(job)] == list(zip(slots, statuses, strict=True))
        assert Job.objects.get(pk=job.pk).next_run_at == T0 + timedelta(seconds=50)
        assert sent.slot_times(job) == [
            slot for slot, status in zip(slots, statuses, strict=True) if status == "queued"
        ]
        if overlap == "skip":
            assert {reason for _, status, reason in outcomes(job) if status == "skipped"} == {"overlap"}
            assert [entry["status"] for entry in Job.objects.get(pk=job.pk).recent_outcomes] == ["skipped"] * 3


def test_a_batch_leaves_alone_a_slot_another_scheduler_claimed(make_job, sent, when_due):
    with time_machine.travel(T0, tick=False) as traveller:
        taken, free = make_job(schedule=every(10)), make_job(schedule=every(10))
        traveller.shift(timedelta(seconds=10))
        claim(taken, T0 + timedelta(seconds=10))  # the other scheduler is about to advance it
        new_scheduler().tick()
    assert [run.job_id for run, _, _ in sent.slots] == [free.pk]
    assert Job.objects.get(pk=taken.pk).next_run_at == T0 + timedelta(seconds=10)
    assert Job.objects.get(pk=free.pk).next_run_at == T0 + timedelta(seconds=20)
    assert JobRun.objects.filter(job=taken).count() == 1


def test_edits_and_pauses_landing_during_a_batch_stand(make_job, user, sent, monkeypatch, when_due):
    with time_machine.travel(T0, tick=False) as traveller:
        edited, paused, plain = (make_job(schedule=every(10)) for _ in range(3))
        traveller.shift(timedelta(seconds=10))

        def edit_and_pause():
            # Both writes land after the claims and before the advance.
            services.job_update(job=Job.objects.get(pk=edited.pk), actor=user, data={"schedule": every(60)})
            services.job_pause(job=Job.objects.get(pk=paused.pk), actor=user)

        after_the_claims(monkeypatch, edit_and_pause)
        new_scheduler().tick()
    assert sorted(run.job_id for run, _, _ in sent.slots) == sorted([edited.pk, plain.pk])
    assert Job.objects.get(pk=edited.pk).next_run_at == T0 + timedelta(seconds=70)  # the edit's, re-anchored
    assert Job.objects.get(pk=paused.pk).next_run_at is None
    assert Job.objects.get(pk=plain.pk).next_run_at == T0 + timedelta(seconds=20)
    skipped = JobRun.objects.get(job=paused)
    assert (skipped.status, skipped.reason) == (RunStatus.SKIPPED, "paused")


def test_a_broken_job_does_not_stop_the_others(make_job, sent, when_due):
    with time_machine.travel(T0, tick=False) as traveller:
        broken, fine = make_job(schedule=every(10)), make_job(schedule=every(10))
        Job.objects.filter(pk=broken.pk).update(interval_anchor=None)  # slots cannot be computed
        traveller.shift(timedelta(seconds=10))
        new_scheduler().tick()
    assert [run.job_id for run, _, _ in sent.slots] == [fine.pk]


# --- stock entries -------------------------------------------------------------------------------


def test_stock_machinery_sees_system_tasks_but_never_job_rows(make_job):
    job = make_job()
    scheduler = JobScheduler(app=app, max_interval=5)  # not lazy: installs the system entries
    scheduler.tick()  # caught up: the mirror check starts
    scheduler.mirror_check.join()
    names = set(scheduler.schedule)
    assert {"system:reap-lost-runs", "system:prune-runs"} <= names
    assert f"job:{job.pk}" not in names
    sql = str(scheduler.enabled_models_qs().query).upper()
    assert "CAST" not in sql and "::INTEGER" not in sql


def test_a_beat_taking_over_does_not_run_again_a_stock_entry_the_previous_holder_just_ran(sent, monkeypatch, clock):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    ran: list[tuple[str, datetime]] = []
    real_apply_async = JobScheduler.apply_async

    def spy(self, entry, *args, **kwargs):
        ran.append((entry.name, timezone.now()))
        return real_apply_async(self, entry, *args, **kwargs)

    monkeypatch.setattr(JobScheduler, "apply_async", spy)
    minute = timedelta(minutes=1)
    with time_machine.travel(T0, tick=False) as traveller:
        every_minute = IntervalSchedule.objects.create(every=1, period=IntervalSchedule.MINUTES)
        PeriodicTask.objects.create(
            name="ops:report", task="jobs.prune_runs", interval=every_minute, last_run_at=T0 - minute
        )
        first, standby = new_scheduler(), new_scheduler()
        first.leases = Partitions(lease=Lease(clock=clock))
        standby.leases = Partitions(lease=Lease(clock=clock))
        assert "ops:report" in standby.schedule  # read when it started, as beat does
        first.tick()
        traveller.shift(minute)
        clock.advance(1)
        first.tick()  # its second run, a moment after its first: celery would save it only minutes later
        assert ran == [("ops:report", T0), ("ops:report", T0 + minute)]
        traveller.shift(timedelta(seconds=5))
        standby.tick()  # sees the lease held; then the first beat is killed
        clock.advance(django_settings.JOBS_BEAT_LEASE_SECONDS + 0.5)
        traveller.shift(timedelta(seconds=5))
        for _ in range(3):
            standby.tick()
        assert current_state().holder == standby.leases.holder
        assert len(ran) == 2, f"ran again by the beat that took over: {ran[2:]}"
        traveller.move_to(T0 + 2 * minute)
        clock.advance(0.5)
        standby.tick()
    assert ran[2:] == [("ops:report", T0 + 2 * minute)]


def test_due_slots_are_published_before_the_stock_entries_are_read(make_job, sent, monkeypatch, when_due):
    # At start-up the stock entries' read (every periodic task row, with a mirror row per job) waited
    # before the first pass; due slots come first now.
    order: list[str] = []
    real_read, real_publish = JobScheduler.all_as_schedule, dispatch.publish
    monkeypatch.setattr(JobScheduler, "all_as_schedule", lambda self: order.append("stock read") or real_read(self))
    monkeypatch.setattr(dispatch, "publish", lambda messages: order.append("jobs published") or real_publish(messages))
    with time_machine.travel(T0, tick=False) as traveller:
        make_job(schedule=every(10))
        traveller.shift(timedelta(seconds=10))
        scheduler = JobScheduler(app=app, max_interval=5)  # not lazy: installs the system entries
        assert order == []
        scheduler.tick()
    assert order[:2] == ["jobs published", "stock read"]
    assert {"system:reap-lost-runs", "system:prune-runs"} <= set(scheduler.schedule)


def test_the_mirror_is_repaired_once_caught_up_without_holding_up_firing(make_job, sent, monkeypatch):
    import threading

    from django_celery_beat.models import PeriodicTask

    from jobs.beat import mirror

    job = make_job(schedule=every(10))
    PeriodicTask.objects.filter(name=f"job:{job.pk}").delete()  # e.g. restored from a backup
    release = threading.Event()
    real_sync_all = mirror.sync_all

    def slow_sync_all(**kwargs):
        assert release.wait(timeout=30)
        return real_sync_all(**kwargs)

    monkeypatch.setattr(mirror, "sync_all", slow_sync_all)
    with time_machine.travel(timezone.now() + timedelta(seconds=10), tick=False):
        scheduler = JobScheduler(app=app, max_interval=5)  # not lazy: the mirror check is due
        assert scheduler.mirror_check is None  # not before the first pass
        scheduler.tick()  # fires, then starts the check
        assert scheduler.mirror_check.is_alive()
    assert sent.slot_times(job) == [Job.objects.get(pk=job.pk).next_run_at - timedelta(seconds=10)]
    release.set()
    scheduler.mirror_check.join(timeout=30)
    assert PeriodicTask.objects.get(name=f"job:{job.pk}").enabled


def test_a_working_tick_is_recorded_for_health_checks(make_job):
    with time_machine.travel(T0, tick=False):
        make_job()
        new_scheduler().tick()
    assert metrics.beat_last_tick() == T0.timestamp()


# --- claimed ahead (JOBS_BEAT_LOOKAHEAD_SECONDS) ------------------------------------------------


def test_a_downtimes_missed_slots_of_many_jobs_are_recorded_in_one_batch(make_job, sent, settings, when_due):
    settings.JOBS_MISFIRE_GRACE_SECONDS = 10
    settings.JOBS_MISSED_RECORD_LIMIT = 4
    with time_machine.travel(T0, tick=False) as traveller:
        jobs = [make_job(schedule=every(10), catchup_policy="skip") for _ in range(3)]
        traveller.shift(timedelta(seconds=75))  # beat starts now: :10 ... :60 passed, :70 within the grace
        new_scheduler().tick()

    for job in jobs:
        recorded = outcomes(job)
        assert [(slot - T0).seconds for slot, *_ in recorded] == [10, 20, 30, 40, 70]
        assert [status for _, status, _ in recorded] == ["missed"] * 4 + ["queued"]
        assert recorded[-2][2] == "scheduler not running; later missed slots were not recorded"
        assert sent.slot_times(job) == [T0 + timedelta(seconds=70)]
        job.refresh_from_db()
        assert job.next_run_at == T0 + timedelta(seconds=80)
        assert [entry["status"] for entry in job.recent_outcomes] == ["missed"] * 4


def test_a_slot_claimed_ahead_is_published_with_its_slot_as_eta_and_starts_there(make_job, sent, claims_ahead):
    with time_machine.travel(T0, tick=False) as traveller:
        jobs = [make_job(schedule=every(60)) for _ in range(30)]
        scheduler = new_scheduler()
        scheduler.batch_size = 7
        traveller.shift(timedelta(seconds=52))
        scheduler.tick()
        # Claimed and queued 8 s before the slot, the job already moved on.
        assert sorted(run.job_id for run, _, _ in sent.slots) == sorted(job.pk for job in jobs)
        assert {(run.scheduled_for, countdown) for run, countdown, _ in sent.slots} == {(T0 + timedelta(minutes=1), 8)}
        assert set(Job.objects.values_list("next_run_at", flat=True)) == {T0 + timedelta(minutes=2)}
        run = JobRun.objects.select_related("job").get(job=jobs[0])
        assert (run.status, policies.claimed_ahead(run)) == (RunStatus.QUEUED, True)
        traveller.shift(timedelta(seconds=8))
        execute(run)  # the worker holds the message until its ETA
    run.refresh_from_db()
    assert (run.status, run.started_at) == (RunStatus.SUCCEEDED, T0 + timedelta(minutes=1))


@pytest.mark.parametrize("earlier_still_running", [True, False])
def test_overlap_of_a_slot_claimed_ahead_is_decided_when_it_starts(make_job, sent, earlier_still_running, claims_ahead):
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10), overlap_policy="skip")
        scheduler = new_scheduler()
        traveller.shift(timedelta(seconds=1))
        scheduler.tick()  # :10 claimed ahead
        traveller.shift(timedelta(seconds=9))
        first = JobRun.objects.select_related("job").get(job=job, scheduled_for=T0 + timedelta(seconds=10))
        assert claims.start(first, worker="w", now=timezone.now())  # :10 is running (a long action)
        scheduler.tick()  # :20 claimed ahead: not skipped now, although :10 is running
        second = JobRun.objects.select_related("job").get(job=job, scheduled_for=T0 + timedelta(seconds=20))
        assert second.status == RunStatus.QUEUED
        traveller.shift(timedelta(seconds=10))
        scheduler.tick()  # :30 claimed ahead too: a later slot does not hold back :20
        if not earlier_still_running:
            lifecycle.finish(first, status=RunStatus.SUCCEEDED)
        execute(second)  # at :20
    second.refresh_from_db()
    if earlier_still_running:
        assert (second.status, second.reason, second.started_at) == (RunStatus.SKIPPED, "overlap", None)
    else:
        assert second.status == RunStatus.SUCCEEDED
    third = JobRun.objects.get(job=job, scheduled_for=T0 + timedelta(seconds=30))
    assert third.status == RunStatus.QUEUED


def test_an_edit_or_pause_landing_between_an_ahead_claim_and_its_advance_withdraws_it(
    make_job, user, sent, settings, monkeypatch, claims_ahead
):
    with time_machine.travel(T0, tick=False) as traveller:
        edited, paused, plain = (make_job(schedule=every(10)) for _ in range(3))
        traveller.shift(timedelta(seconds=5))

        def edit_and_pause():
            services.job_update(job=Job.objects.get(pk=edited.pk), actor=user, data={"schedule": every(60)})
            services.job_pause(job=Job.objects.get(pk=paused.pk), actor=user)

        after_the_claims(monkeypatch, edit_and_pause)
        new_scheduler().tick()
    assert [run.job_id for run, _, _ in sent.slots] == [plain.pk]
    assert not JobRun.objects.filter(job__in=[edited, paused]).exists()
    assert Job.objects.get(pk=edited.pk).next_run_at == T0 + timedelta(seconds=65)


def test_a_beat_woken_after_a_takeover_between_its_ahead_claim_and_advance_withdraws_nothing(
    make_job, sent, monkeypatch, clock, claims_ahead
):
    # A beat frozen (SIGSTOP) between claiming a slot ahead and advancing the job. A standby takes
    # the lease, publishes that claim again, moves the job on from it (a dead claim) and claims the
    # next slot ahead. Woken, the first beat's advance finds next_run_at moved: no edit landed, so the
    # claims stand, its own and the standby's (the e2e frozen takeover once lost 30 s of slots here).
    slot = T0 + timedelta(seconds=10)
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10), overlap_policy="allow")
        frozen, standby = new_scheduler(), new_scheduler()
        frozen.leases = Partitions(lease=Lease(clock=clock))
        standby.leases = Partitions(lease=Lease(clock=clock))
        traveller.shift(timedelta(seconds=5))
        taken_over = []

        def freeze_and_take_over():
            if taken_over:
                return  # the standby's own claims
            taken_over.append(True)
            traveller.shift(timedelta(seconds=1))
            standby.tick()  # sees the lease held
            clock.advance(django_settings.JOBS_BEAT_LEASE_SECONDS + 0.5)
            traveller.shift(timedelta(seconds=3))
            standby.tick()  # takes over: publishes the frozen beat's claim again, moves the job on
            assert Job.objects.get(pk=job.pk).next_run_at == slot + timedelta(seconds=10)
            traveller.shift(timedelta(seconds=3))  # T0+12: the slot after comes within the lookahead
            standby.tick()
            assert Job.objects.get(pk=job.pk).next_run_at == slot + timedelta(seconds=20)

        after_the_claims(monkeypatch, freeze_and_take_over)
        frozen.tick()  # claims the slot ahead, freezes, and (woken) finds the job moved on
        assert taken_over
        assert current_state().holder == standby.leases.holder
        assert run_slots(job) == [slot, slot + timedelta(seconds=10)]
        assert set(JobRun.objects.filter(job=job).values_list("status", flat=True)) == {RunStatus.QUEUED}
        assert set(sent.slot_times(job)) == {slot, slot + timedelta(seconds=10)}
        traveller.shift(timedelta(seconds=0.5))
        assert frozen.tick() == pytest.approx(0.5)  # fenced: it stands by
        for run in JobRun.objects.filter(job=job):
            traveller.move_to(run.scheduled_for)
            assert execute(run) is not None
    assert set(JobRun.objects.filter(job=job).values_list("status", flat=True)) == {RunStatus.SUCCEEDED}


def test_an_edit_that_keeps_the_schedule_keeps_the_claims_made_ahead(make_job, user, sent, settings, claims_ahead):
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10))
        traveller.shift(timedelta(seconds=5))
        new_scheduler().tick()
        services.job_update(job=Job.objects.get(pk=job.pk), actor=user, data={"name": "renamed", "max_retries": 2})
        assert run_slots(job) == [T0 + timedelta(seconds=10)]
        services.job_update(job=Job.objects.get(pk=job.pk), actor=user, data={"schedule": every(10)})  # same
        assert run_slots(job) == [T0 + timedelta(seconds=10)]
        services.job_delete(job=Job.objects.get(pk=job.pk), actor=user)
    assert not JobRun.objects.exists()


class Stopped(Exception):
    """What SIGTERM raises in the stop-signal tests (celery beat's handler raises SystemExit)."""


@pytest.fixture
def sigterm_raises_stopped():
    import signal

    def stop(signum, frame):
        raise Stopped()

    previous = signal.signal(signal.SIGTERM, stop)
    yield stop
    signal.signal(signal.SIGTERM, previous)


def test_a_stop_signal_during_a_pass_waits_for_the_pass_to_end(
    make_job, sent, monkeypatch, lookahead, sigterm_raises_stopped
):
    import os
    import signal

    # e.g. `docker stop`, between the claims and the advance
    after_the_claims(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGTERM))
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(10))
        traveller.shift(timedelta(seconds=10))
        with pytest.raises(Stopped):
            new_scheduler().tick()
    # The pass ended before beat stopped: claimed, advanced and published.
    assert sent.slot_times(job)[0] == T0 + timedelta(seconds=10)
    assert Job.objects.get(pk=job.pk).next_run_at > T0 + timedelta(seconds=10)


def test_a_stop_signal_anywhere_in_a_tick_is_handled_after_it(make_job, sent, monkeypatch, when_due):
    """celery beat's handler closes the scheduler (database writes) from inside the signal handler.

    Run in the middle of a query of the tick, on the same connection, that
    close waited forever on PostgreSQL (psycopg's connection lock): a
    deploy's SIGTERM during the lease's renewal hung beat. Here the signal
    comes during the renewal, before the pass.
    """
    import os
    import signal

    events = []
    scheduler = new_scheduler()
    renew = scheduler.leases.refresh

    def refresh_signalled():
        os.kill(os.getpid(), signal.SIGTERM)
        active = renew()
        events.append("renewed")
        return active

    def celery_beat_handler(signum, frame):  # what celery.apps.beat installs: close, then exit
        events.append("handler")
        scheduler.close()
        raise Stopped()

    monkeypatch.setattr(scheduler.leases, "refresh", refresh_signalled)
    previous = signal.signal(signal.SIGTERM, celery_beat_handler)
    try:
        with time_machine.travel(T0, tick=False) as traveller:
            job = make_job(schedule=every(10))
            traveller.shift(timedelta(seconds=10))
            with pytest.raises(Stopped):
                scheduler.tick()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert events == ["renewed", "handler"]
    assert sent.slot_times(job) == [T0 + timedelta(seconds=10)]  # the tick's pass ran, then beat stopped
    assert current_state().holder == ""  # and the close released the lease


def test_a_stop_signal_during_celerys_sync_is_handled_after_it(monkeypatch, sigterm_raises_stopped):
    import os
    import signal

    from django_celery_beat.schedulers import DatabaseScheduler

    events = []
    scheduler = new_scheduler()

    def sync_signalled(self):
        os.kill(os.getpid(), signal.SIGTERM)
        events.append("synced")

    monkeypatch.setattr(DatabaseScheduler, "sync", sync_signalled)
    with pytest.raises(Stopped):
        scheduler._do_sync()
    assert events == ["synced"]


def test_a_slot_claimed_ahead_is_still_the_next_run_users_see(make_job, user, sent, claims_ahead, client):
    from jobs import selectors
    from jobs.api.serializers import JobSerializer
    from jobs.diagnostics import overview

    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every(60))
        traveller.shift(timedelta(seconds=55))
        new_scheduler().tick()  # T0+60 claimed ahead; the stored next_run_at moved to T0+120
        job.refresh_from_db()
        assert job.next_run_at == T0 + timedelta(minutes=2)
        slot = T0 + timedelta(minutes=1)
        assert JobSerializer(job).data["next_run_at"] == slot.isoformat().replace("+00:00", "Z")
        first = schedules.next_fire_time(job.schedule, after=timezone.now())
        assert selectors.next_run_at(stored=job.next_run_at, enabled=True, first_fire=first) == slot
        assert overview.upcoming_fires(now=timezone.now(), limit=1)[0]["at_utc"] == slot


def test_one_off_jobs_within_the_lookahead_wait_for_their_time_without_holding_up_the_rest(
    make_job, sent, claims_ahead
):
    with time_machine.travel(T0, tick=False) as traveller:
        once = [make_job(schedule={"kind": "once", "at": (T0 + timedelta(seconds=5)).isoformat()}) for _ in range(7)]
        interval = make_job(schedule=every(10))
        scheduler = new_scheduler()
        scheduler.batch_size = 3
        scheduler.tick_budget_seconds = 3600  # a pass that kept re-reading the one-off jobs would never end
        assert scheduler.tick() > 0
        assert sent.slot_times(interval) == [T0 + timedelta(seconds=10)]  # claimed ahead, behind the one-offs
        assert sent.slots[0][0].job_id == interval.pk and len(sent.slots) == 1
        traveller.shift(timedelta(seconds=5))
        scheduler.tick()
    assert sorted(run.job_id for run, _, _ in sent.slots[1:]) == sorted(job.pk for job in once)


def test_a_second_stop_signal_stops_a_pass_at_once(make_job, sent, monkeypatch, when_due, sigterm_raises_stopped):
    import os
    import signal

    def stuck():  # e.g. a database that stopped answering
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGTERM)
        raise AssertionError("the second signal did not stop the pass")

    after_the_claims(monkeypatch, stuck)
    with time_machine.travel(T0, tick=False) as traveller:
        make_job(schedule=every(10))
        traveller.shift(timedelta(seconds=10))
        with pytest.raises(Stopped):
            new_scheduler().tick()
    assert signal.getsignal(signal.SIGTERM) is sigterm_raises_stopped  # put back


@pytest.mark.parametrize("count", [1, 500])
def test_a_pass_costs_a_constant_number_of_statements_whatever_is_due(make_job, sent, when_due, count):
    """The SQL side of the MQL guard's round-trip count (tests/mongodb/test_store.py)."""
    with time_machine.travel(T0, tick=False) as traveller:
        first = make_job(schedule=every(10))
        copies = []
        for index in range(count - 1):
            copy = Job.objects.get(pk=first.pk)
            copy.id, copy.name = uuid.uuid4(), f"{first.name}-{index}"
            copies.append(copy)
        Job.objects.bulk_create(copies)
        traveller.shift(timedelta(seconds=10))
        scheduler = new_scheduler()
        scheduler.tick_budget_seconds = 3600
        with CaptureQueriesContext(connection) as queries:
            scheduler.tick_jobs()
    assert len(sent.slots) == count
    statements = [q["sql"].split()[0].upper() for q in queries.captured_queries]
    statements = [verb for verb in statements if verb not in ("SAVEPOINT", "RELEASE", "BEGIN", "COMMIT")]
    # The due read (again after a full batch of 500), the busy check, the claims' insert and its read-back,
    # the advances' one UPDATE, the wake-up read.
    reads = 3 if count == scheduler.batch_size else 2
    # One INSERT, unless the database caps the parameters of a statement (SQLite: 999, so ~60 runs each).
    fields = JobRun._meta.concrete_fields
    inserts = -(-count // min(2000, connection.ops.bulk_batch_size(fields, [None] * count)))
    assert statements.count("SELECT") == reads + 2
    assert statements.count("INSERT") == inserts and statements.count("UPDATE") == 1
    assert len(statements) == reads + 3 + inserts
