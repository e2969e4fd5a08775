"""Two beats sharing the jobs by partition (jobs/beat/partitions.py), JOBS_BEAT_PARTITIONS=2.

Each beat holds one partition; when one is killed the other takes its
partition over within the bound, and every slot of every job runs once.
"""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.beat.partitions import current_states, partition_of
from jobs.models import RunStatus
from tests.e2e.conftest import runs_of, wait_for
from tests.e2e.test_two_beats import (
    TAKEOVER_BOUND_SECONDS,
    assert_each_slot_once_none_missed,
    stop_and_time_takeover,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PARTITIONS = 2
#: From the second beat's start to one partition each: its first look, the first beat's release, its take.
BALANCE_BOUND_SECONDS = 5.0


def holder_pids() -> list[int | None]:
    """The pid of each partition's holder (None: no holder)."""
    pids = []
    for share in current_states(PARTITIONS):
        state = share.lease
        pids.append(int(state.holder.split(":")[1]) if state is not None and state.holder else None)
    return pids


def test_two_beats_hold_one_partition_each_and_one_takes_over_the_others(procs, make_job):
    procs.worker()
    first = procs.beat("beat-1", JOBS_BEAT_PARTITIONS=str(PARTITIONS))
    wait_for(lambda: holder_pids() == [first.popen.pid] * 2, timeout=10, message="the first beat to take both")
    # Jobs in both partitions (ids are random): a few of each.
    jobs = []
    while min(sum(partition_of(job.pk, PARTITIONS) == k for job in jobs) for k in range(PARTITIONS)) < 2:
        jobs.append(make_job(overlap_policy="allow"))

    second = procs.beat("beat-2", JOBS_BEAT_PARTITIONS=str(PARTITIONS))
    started = time.monotonic()
    wait_for(
        lambda: set(holder_pids()) == {first.popen.pid, second.popen.pid},
        timeout=BALANCE_BOUND_SECONDS + 5,
        message="one partition each",
        interval=0.05,
    )
    balanced = time.monotonic() - started
    print(f"balanced {balanced:.2f} s after the second beat started")
    assert balanced <= BALANCE_BOUND_SECONDS
    for job in jobs:
        wait_for(
            lambda job=job: len(runs_of(job, status=RunStatus.SUCCEEDED)) >= 4, timeout=20, message="4 runs per job"
        )
    assert holder_pids()[0] == first.popen.pid  # partition 0 stays where it was: the stock entries did not move

    # Kill the holder of partition 0 (the stock entries' beat): the other takes it over.
    gone_at = timezone.now()
    took = stop_and_time_takeover(
        first,
        signal.SIGKILL,
        lambda: holder_pids() == [second.popen.pid] * 2,
        "the other beat to take over the killed one's partition",
    )
    print(f"took over {took:.2f} s after the kill")
    assert took <= TAKEOVER_BOUND_SECONDS, f"takeover took {took:.1f} s"
    assert f"took over the lease jobs:0/{PARTITIONS}" in second.output()

    after = gone_at + timedelta(seconds=TAKEOVER_BOUND_SECONDS + 3)
    for job in jobs:
        wait_for(
            lambda job=job: runs_of(job, scheduled_for__gt=after, status=RunStatus.SUCCEEDED),
            timeout=20,
            message="runs after the takeover",
        )
    for job in jobs:
        end = runs_of(job, scheduled_for__gt=after, status=RunStatus.SUCCEEDED)[0].scheduled_for
        assert_each_slot_once_none_missed(job, end)
        for run in runs_of(job, scheduled_for__lte=end):
            wait_for(
                lambda run=run, job=job: runs_of(job, pk=run.pk, status=RunStatus.SUCCEEDED),
                timeout=15,
                message=f"slot {run.scheduled_for} of job {job.pk} to succeed (it is {run.status})",
            )
