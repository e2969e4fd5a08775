"""The beat lease (jobs/beat/lease.py): one active beat, takeover when it lapses, the fence before it."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import DatabaseError

from jobs.beat import lease as lease_module
from jobs.beat.lease import FENCE_MARGIN_SECONDS, Lease, current_state
from jobs.beat.partitions import Partitions
from jobs.beat.scheduler import JobScheduler
from jobs.execution import claims
from jobs.models import BeatLease, Job, JobRun
from scheduler_site.celery import app
from tests.jobs.beat.conftest import Clock

pytestmark = pytest.mark.django_db

SECONDS = 3.0


def beat(name: str, clock: Clock) -> Lease:
    return Lease(holder=name, seconds=SECONDS, clock=clock)


def test_the_first_beat_takes_a_new_lease_and_the_second_stands_by(clock):
    a, b = beat("a", clock), beat("b", clock)
    assert a.refresh() is True
    assert b.refresh() is False
    state = current_state()
    assert (state.holder, state.generation) == ("a", 1)
    assert a.active() and not b.active()


def test_the_active_beat_renews_at_most_every_third_of_the_lease(clock):
    a = beat("a", clock)
    a.refresh()
    seq = BeatLease.objects.get().seq
    clock.advance(SECONDS / 3 - 0.01)
    assert a.refresh()
    assert BeatLease.objects.get().seq == seq  # not due: no write
    clock.advance(0.02)
    assert a.refresh()
    assert BeatLease.objects.get().seq == seq + 1


def test_a_standby_takes_over_a_silent_lease_only_after_the_holder_is_fenced(clock):
    a, b = beat("a", clock), beat("b", clock)
    a.refresh()
    b.refresh()  # b reads a's last renewal now
    for _ in range(int(SECONDS / 0.5) - 1):
        clock.advance(0.5)
        assert b.refresh() is False, "took over before the lease lapsed"
    # a froze right after its renewal (no refresh since): by now it no longer acts.
    assert not a.active()
    clock.advance(0.5)
    assert b.refresh() is True
    state = current_state()
    assert (state.holder, state.generation) == ("b", 2)
    # a wakes up: it is fenced and cannot renew.
    assert a.refresh() is False
    assert not a.active()
    assert current_state().holder == "b"


def test_the_fence_falls_before_any_standby_may_act(clock):
    a, b = beat("a", clock), beat("b", clock)
    a.refresh()
    b.refresh()
    last_active = None
    first_takeover = None
    for step in range(1, 100):
        clock.advance(0.05)
        if a.active():
            last_active = step
        if first_takeover is None and b.refresh():
            first_takeover = step
    assert last_active is not None and first_takeover is not None
    assert last_active < first_takeover
    assert (first_takeover - last_active) * 0.05 >= FENCE_MARGIN_SECONDS - 0.06


def test_a_renewing_holder_keeps_the_lease(clock):
    a, b = beat("a", clock), beat("b", clock)
    a.refresh()
    for _ in range(40):
        clock.advance(0.5)
        assert a.refresh() is True
        assert b.refresh() is False
    assert current_state().generation == 1


def test_a_released_lease_is_taken_at_once(clock):
    a, b = beat("a", clock), beat("b", clock)
    a.refresh()
    b.refresh()
    a.release()
    assert not a.active()
    assert current_state().holder == ""
    assert b.refresh() is True
    assert current_state().generation == 2


def test_two_standbys_racing_for_a_lapsed_lease_one_wins(clock):
    a, b, c = beat("a", clock), beat("b", clock), beat("c", clock)
    a.refresh()
    clock.advance(SECONDS)
    read_by_both = BeatLease.objects.get()  # both read the lapsed row before either writes
    assert b._take(read_by_both, silent_for=SECONDS) is True
    assert c._take(read_by_both, silent_for=SECONDS) is False
    assert b.active() and not c.active()
    assert current_state().holder == "b"


def test_no_row_two_beats_create_it_once(clock):
    a, b = beat("a", clock), beat("b", clock)
    a._create()
    b._create()  # the unique name refuses the second row
    assert BeatLease.objects.count() == 1
    assert a.active() and not b.active()


# --- in the scheduler ------------------------------------------------------------------------------


T0 = datetime(2025, 6, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_only_the_active_scheduler_fires_and_a_clean_stop_hands_over(make_job, sent, clock, settings):
    settings.JOBS_BEAT_LOOKAHEAD_SECONDS = 0  # each slot claimed when due, by whoever is active then
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule={"kind": "interval", "every": 10, "unit": "seconds"}, overlap_policy="allow")
        a = JobScheduler(app=app, lazy=True, max_interval=3600)
        b = JobScheduler(app=app, lazy=True, max_interval=3600)
        a.leases, b.leases = Partitions(lease=beat("a", clock)), Partitions(lease=beat("b", clock))
        a.tick()
        assert b.tick() == lease_module.STANDBY_POLL_SECONDS
        traveller.shift(timedelta(seconds=10))
        b.tick()
        assert not JobRun.objects.filter(job=job).exists(), "the standby fired"
        a.tick()
        assert JobRun.objects.filter(job=job).count() == 1
        a.close()
        b.tick()
        assert current_state().holder == "b"
        traveller.shift(timedelta(seconds=10))
        b.tick()
        assert JobRun.objects.filter(job=job).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_database_error_while_renewing_is_a_retry_not_a_crash(clock, monkeypatch, caplog, settings):
    scheduler = JobScheduler(app=app, lazy=True, max_interval=3600)
    scheduler.leases = Partitions(lease=beat("a", clock))

    def down() -> bool:
        raise DatabaseError("connection refused")

    monkeypatch.setattr(scheduler.leases, "refresh", down)
    with caplog.at_level(logging.WARNING, logger="jobs.beat.scheduler"):
        assert scheduler.tick() == settings.JOBS_BEAT_POLL_SECONDS
    assert "renewing the lease" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_taking_over_from_a_silent_beat_publishes_its_unpublished_claims_and_moves_on_at_once(
    make_job, sent, clock, settings
):
    settings.JOBS_BEAT_LOOKAHEAD_SECONDS = 0
    every_10 = {"kind": "interval", "every": 10, "unit": "seconds"}
    with time_machine.travel(T0, tick=False) as traveller:
        job = make_job(schedule=every_10, overlap_policy="allow")
        a = JobScheduler(app=app, lazy=True, max_interval=3600)
        b = JobScheduler(app=app, lazy=True, max_interval=3600)
        a.leases, b.leases = Partitions(lease=beat("a", clock)), Partitions(lease=beat("b", clock))
        a.tick()
        b.tick()
        traveller.shift(timedelta(seconds=10))
        # a claims the slot at T0+10, then dies before advancing the job or publishing the run.
        assert claims.claim_one(claims.new_run(job, T0 + timedelta(seconds=10)))
        clock.advance(SECONDS + 0.5)
        traveller.shift(timedelta(seconds=4))
        b.tick()
        assert current_state().holder == "b"
        # The orphaned run is published (a message sent twice would start it once)...
        assert [run.scheduled_for for run, _, _ in sent.slots] == [T0 + timedelta(seconds=10)]
        # ... and the job is not left at that claim for firing.STALE_CLAIM_SECONDS: it moved on.
        assert Job.objects.get(pk=job.pk).next_run_at == T0 + timedelta(seconds=20)
        traveller.shift(timedelta(seconds=6))
        b.tick()
    assert sent.slot_times(job) == [T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)]
    assert JobRun.objects.filter(job=job).count() == 2


@pytest.mark.django_db(transaction=True)
def test_a_released_lease_is_not_an_inheritance(make_job, sent, clock):
    a, b = beat("a", clock), beat("b", clock)
    a.refresh()
    a.release()
    b.refresh()
    assert b.active() and not b.inherited
