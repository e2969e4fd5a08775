"""An every-second job, run by a real beat and worker: 20 consecutive slots, each on time."""

from __future__ import annotations

import json
import statistics
from datetime import UTC
from pathlib import Path

import pytest

from jobs import schedules
from jobs.models import RunStatus, RunTrigger
from tests.e2e.conftest import runs_of, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

SLOTS = 20
MAX_LATENESS_SECONDS = 3.0
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


def test_every_second_job_runs_20_consecutive_slots_on_time(procs, make_job):
    procs.worker()
    procs.beat()
    job = make_job(overlap_policy="allow")
    # From the first slot the job was given, not from `created_at`: the service picks the next slot after
    # its own `now`, which can fall a millisecond before the `created_at` stamped on save, across a second.
    first = job.next_run_at.astimezone(UTC)
    later = schedules.next_fire_times(job.schedule, after=first, count=SLOTS - 1)
    slots = [first, *(s.astimezone(UTC) for s in later)]

    wait_for(
        lambda: len(runs_of(job, scheduled_for__lte=slots[-1], finished_at__isnull=False)) >= SLOTS,
        timeout=SLOTS + 20,
        message=f"{SLOTS} finished runs",
    )

    runs = runs_of(job, scheduled_for__lte=slots[-1])
    assert [run.scheduled_for for run in runs] == slots  # one run per slot, none missing, none extra
    assert {(run.trigger, run.status) for run in runs} == {(RunTrigger.SCHEDULE, RunStatus.SUCCEEDED)}
    lateness = [run.lateness_seconds for run in runs]
    report = {
        "slots": SLOTS,
        "min_s": round(min(lateness), 3),
        "median_s": round(statistics.median(lateness), 3),
        "p95_s": round(sorted(lateness)[int(0.95 * (SLOTS - 1))], 3),
        "max_s": round(max(lateness), 3),
        "all_s": [round(value, 3) for value in lateness],
    }
    print("lateness (started_at - scheduled_for):", json.dumps(report))
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "e2e-every-second-lateness.json").write_text(json.dumps(report, indent=2) + "\n")
    assert all(0 <= value <= MAX_LATENESS_SECONDS for value in lateness), report
