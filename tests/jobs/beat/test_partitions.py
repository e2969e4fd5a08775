"""Beats sharing the jobs by partition (jobs/beat/partitions.py): the id ranges, the assignment rule, the scheduler.

The assignment is driven with one pinned monotonic clock for all beats (each
beat would have its own; only differences on one beat's clock are compared).
"""

from __future__ import annotations

import copy
import itertools
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_celery_beat.schedulers import DatabaseScheduler

from jobs.beat import partitions
from jobs.beat.partitions import MEMBER_PRUNE_SECONDS, Partitions, bounds, id_filter, lease_name, partition_of
from jobs.beat.scheduler import JobScheduler
from jobs.models import BeatLease, Job, JobRun
from scheduler_site.celery import app
from tests.jobs.beat.conftest import Clock

SECONDS = 3.0
SPACE = 1 << 128


# --- the ranges -----------------------------------------------------------------------------------------


def test_one_partition_has_no_bounds_and_keeps_the_lease_name():
    assert bounds(0, 1) == (None, None)
    assert lease_name(0, 1) == "jobs"
    assert id_filter([0], 1) == id_filter([], 1) == id_filter([0], 1, field="job_id")
    assert not id_filter([0], 1)  # Q(): no filter at all


@pytest.mark.parametrize("count", [2, 3, 7, 64])
def test_the_ranges_are_contiguous_and_cover_every_id(count):
    ranges = [bounds(k, count) for k in range(count)]
    assert ranges[0][0] is None and ranges[-1][1] is None
    for (_, high), (low, _) in itertools.pairwise(ranges):
        assert high == low
    assert [lease_name(k, count) for k in (0, count - 1)] == [f"jobs:0/{count}", f"jobs:{count - 1}/{count}"]


@pytest.mark.parametrize("count", [2, 3, 7])
def test_partition_of_agrees_with_the_bounds_at_every_edge(count):
    for k in range(1, count):
        edge = bounds(k, count)[0]
        assert partition_of(edge, count) == k
        assert partition_of(uuid.UUID(int=edge.int - 1), count) == k - 1
    assert partition_of(uuid.UUID(int=0), count) == 0
    assert partition_of(uuid.UUID(int=SPACE - 1), count) == count - 1


def test_bounds_refuse_a_partition_out_of_range():
    with pytest.raises(ValueError):
        bounds(2, 2)


def _ids_to_try(counts) -> list[uuid.UUID]:
    """Random ids, and for every count each edge and the id just below it, and the extremes."""
    ids = {uuid.uuid4() for _ in range(40)} | {uuid.UUID(int=0), uuid.UUID(int=SPACE - 1)}
    for count in counts:
        for k in range(1, count):
            edge = bounds(k, count)[0]
            ids |= {edge, uuid.UUID(int=edge.int - 1), uuid.UUID(int=edge.int + 1)}
    return sorted(ids)


@pytest.mark.django_db
def test_every_job_falls_in_exactly_one_partition_on_this_database(make_job):
    # SQLite and MongoDB store a uuid as 32 hex digits (string order is numeric order), PostgreSQL as a
    # native uuid (byte order): the range filter must agree with the arithmetic on every lane.
    counts = [1, 2, 3, 7]
    template = make_job()
    ids = _ids_to_try(counts)
    copies = []
    for n, job_id in enumerate(ids):
        job = copy.copy(template)
        job.pk, job.name = job_id, f"ranged-{n}"
        copies.append(job)
    Job.objects.bulk_create(copies)
    everything = {template.pk, *ids}
    for count in counts:
        found: dict[uuid.UUID, list[int]] = {}
        for k in range(count):
            for job_id in Job.objects.filter(id_filter([k], count)).values_list("pk", flat=True):
                found.setdefault(job_id, []).append(k)
        assert set(found) == everything, f"P={count}: jobs in no partition"
        assert {job_id: ks for job_id, ks in found.items() if len(ks) > 1} == {}, f"P={count}: jobs in two"
        assert all(found[job_id] == [partition_of(job_id, count)] for job_id in everything)
        # Several ranges OR-ed: what a beat holding those partitions reads.
        some = [0, count - 1] if count > 1 else [0]
        expected = {job_id for job_id in everything if partition_of(job_id, count) in some}
        assert set(Job.objects.filter(id_filter(some, count)).values_list("pk", flat=True)) == expected
    assert not Job.objects.filter(id_filter([], 2)).exists()


# --- the assignment rule ------------------------------------------------------------------------------------


def beat(name: str, clock: Clock, count: int = 4) -> Partitions:
    return Partitions(count=count, holder=name, seconds=SECONDS, clock=clock)


def holders(count: int = 4) -> list[str]:
    """Who holds each partition, by the rows ("" when released or never taken)."""
    rows = dict(BeatLease.objects.filter(name__startswith="jobs:").values_list("name", "holder"))
    return [rows.get(lease_name(k, count), "") for k in range(count)]


def looks(clock: Clock, beats: list[Partitions], times: int = 1, every: float = 0.5) -> None:
    """Each beat ticks `times` times, `every` seconds apart (every tick renews; one in ~0.5 s looks around)."""
    for _ in range(times):
        for each in beats:
            each.refresh()
        clock.advance(every)


@pytest.mark.django_db
def test_a_single_beat_takes_every_partition(clock):
    a = beat("a", clock)
    assert a.refresh() == [0, 1, 2, 3]
    assert holders() == ["a"] * 4
    assert BeatLease.objects.filter(name=partitions.member_name("a"), holder="a").exists()


@pytest.mark.django_db
def test_a_second_beat_receives_half_within_a_few_looks(clock):
    a, b = beat("a", clock), beat("b", clock)
    looks(clock, [a])
    looks(clock, [a, b], times=6)
    assert sorted(a.active()) == [0, 1] and sorted(b.active()) == [2, 3]
    assert holders() == ["a", "a", "b", "b"]
    # Stable: nothing moves any more.
    generations = list(BeatLease.objects.filter(name__startswith="jobs:").order_by("name").values_list("generation"))
    looks(clock, [a, b], times=20)
    assert holders() == ["a", "a", "b", "b"]
    assert generations == list(
        BeatLease.objects.filter(name__startswith="jobs:").order_by("name").values_list("generation")
    )


@pytest.mark.django_db
def test_a_partition_is_never_active_on_two_beats_while_they_rebalance(clock):
    beats = [beat(name, clock, count=3) for name in "abc"]
    for n in range(30):
        looks(clock, beats[: 1 + n // 5])
        active = [k for each in beats for k in each.active()]
        assert len(active) == len(set(active)), f"look {n}: {[each.active() for each in beats]}"
    # Three beats, three partitions: one each.
    assert sorted(len(each.active()) for each in beats) == [1, 1, 1]


@pytest.mark.django_db
def test_more_beats_than_partitions_leave_the_extra_ones_standing_by(clock):
    beats = [beat(name, clock, count=2) for name in "abc"]
    looks(clock, beats, times=10)
    assert sorted(len(each.active()) for each in beats) == [0, 1, 1]


@pytest.mark.django_db
def test_a_dead_beats_partitions_are_taken_over_within_the_bound_and_inherited(clock):
    a, b = beat("a", clock), beat("b", clock)
    looks(clock, [a])
    looks(clock, [a, b], times=6)
    assert sorted(b.active()) == [2, 3]
    b.inherited()
    # b dies (SIGKILL): its rows stop changing. a takes its partitions once their leases lapse by a's clock.
    died = clock.now
    while set(a.active()) != {0, 1, 2, 3}:
        looks(clock, [a])
        assert clock.now - died <= SECONDS + 1.5, "not taken over within the lease plus a look"
    assert holders() == ["a"] * 4
    assert a.inherited() == [2, 3]
    assert a.inherited() == []  # cleared once asked
    assert a.live_members == 1


@pytest.mark.django_db
def test_a_clean_stop_hands_its_partitions_over_at_once_and_is_not_an_inheritance(clock):
    a, b = beat("a", clock), beat("b", clock)
    looks(clock, [a])
    looks(clock, [a, b], times=6)
    b.release()
    assert not BeatLease.objects.filter(name=partitions.member_name("b")).exists()
    looks(clock, [a], times=2)
    assert sorted(a.active()) == [0, 1, 2, 3]
    assert a.inherited() == []


@pytest.mark.django_db
def test_a_frozen_beat_is_fenced_and_on_waking_gives_up_what_was_taken(clock):
    a, b = beat("a", clock), beat("b", clock)
    looks(clock, [a])
    looks(clock, [a, b], times=6)
    frozen_at = clock.now
    while clock.now - frozen_at < SECONDS + 2:
        looks(clock, [a])  # b is frozen (SIGSTOP)
    assert b.active() == [], "a frozen beat must be fenced by its own clock"
    assert sorted(a.active()) == [0, 1, 2, 3]
    looks(clock, [a, b], times=10)  # b wakes: its renewals fail, it stands by, then receives its share again
    assert sorted(len(each.active()) for each in (a, b)) == [2, 2]
    active = [k for each in (a, b) for k in each.active()]
    assert sorted(active) == [0, 1, 2, 3]


@pytest.mark.django_db
def test_member_rows_silent_for_long_are_pruned(clock):
    a, b = beat("a", clock), beat("b", clock)
    looks(clock, [a, b], times=4)
    while clock.now < 1000 + MEMBER_PRUNE_SECONDS + 5:
        looks(clock, [a], every=1)
    assert not BeatLease.objects.filter(name=partitions.member_name("b")).exists()
    assert BeatLease.objects.filter(name=partitions.member_name("a")).exists()


# --- in the scheduler ----------------------------------------------------------------------------------------

T0 = datetime(2025, 6, 2, 12, 0, 0, tzinfo=UTC)


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_share_the_jobs_and_each_slot_fires_once(make_job, sent, clock, settings, monkeypatch):
    settings.JOBS_BEAT_LOOKAHEAD_SECONDS = 0
    stock_ticks: list[str] = []
    monkeypatch.setattr(DatabaseScheduler, "tick", lambda self, *a, **k: stock_ticks.append(self.leases.holder) or 5.0)
    with time_machine.travel(T0, tick=False) as traveller:
        jobs = [
            make_job(schedule={"kind": "interval", "every": 10, "unit": "seconds"}, overlap_policy="allow")
            for _ in range(12)
        ]
        a = JobScheduler(app=app, lazy=True, max_interval=3600)
        b = JobScheduler(app=app, lazy=True, max_interval=3600)
        a.leases, b.leases = beat("a", clock, count=2), beat("b", clock, count=2)
        for _ in range(121):  # to T0 + 60 s, both ticking every half second
            a.tick()
            b.tick()
            traveller.shift(timedelta(seconds=0.5))
            clock.advance(0.5)
    assert sorted(a.leases.active() + b.leases.active()) == [0, 1]
    assert len(a.leases.active()) == len(b.leases.active()) == 1
    for job in jobs:
        slots = sorted(sent.slot_times(job))
        assert slots == [T0 + timedelta(seconds=10 * n) for n in range(1, 7)], job.pk
        assert JobRun.objects.filter(job=job).count() == 6
    first = a if 0 in a.leases.active() else b
    assert set(stock_ticks[-10:]) == {first.leases.holder}, "the stock entries ran on partition 1's holder"


@pytest.mark.django_db(transaction=True)
def test_a_scheduler_reads_only_the_jobs_of_its_partitions(make_job, sent, clock, settings):
    settings.JOBS_BEAT_LOOKAHEAD_SECONDS = 0
    with time_machine.travel(T0, tick=False) as traveller:
        jobs = [
            make_job(schedule={"kind": "interval", "every": 10, "unit": "seconds"}, overlap_policy="allow")
            for _ in range(12)
        ]
        a = JobScheduler(app=app, lazy=True, max_interval=3600)
        a.leases = beat("a", clock, count=2)
        a.tick()  # alone: it takes both partitions, then gives partition 1 to the beat that joins
        other = beat("z", clock, count=2)
        for _ in range(10):
            other.refresh()
            a.tick()
            clock.advance(0.5)
        assert a.leases.active() == [0]
        traveller.shift(timedelta(seconds=10))
        other.refresh()
        a.tick()
    fired = {run.job_id for run, _, _ in sent.slots}
    assert fired == {job.pk for job in jobs if partition_of(job.pk, 2) == 0}
