"""`manage.py explain <job-id> [--since 24h]`."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.core.management import CommandError, call_command

from jobs.models import Job, RunStatus
from tests import factories

NOW = datetime(2025, 3, 12, 12, 0, 5, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def job(user: Any) -> Job:
    with time_machine.travel(at("2025-03-12 06:00:00"), tick=False):
        job = factories.job(
            user, name="hourly-report", schedule={"kind": "cron", "cron": "0 * * * *", "timezone": "Europe/Berlin"}
        )
    for hour in (7, 8, 9, 10):
        slot = at(f"2025-03-12 {hour:02d}:00:00")
        factories.run_row(job, slot, started=slot + timedelta(seconds=1), finished=slot + timedelta(seconds=2))
    # 11:00 was skipped for overlap; 12:00 has no run at all (but is only 5 s old).
    factories.run_row(job, at("2025-03-12 11:00:00"), status=RunStatus.SKIPPED, reason="overlap")
    return job


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    with time_machine.travel(NOW, tick=False):
        call_command("explain", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_lists_every_slot_with_its_outcome(job):
    out, _ = run(str(job.pk), "--since", "8h", "--all")
    assert f"Job 'hourly-report' ({job.pk})" in out
    assert "Window: 2025-03-12T04:00:05Z to 2025-03-12T12:00:05Z (8 h); times in Europe/Berlin" in out
    assert "Every hour (Europe/Berlin)" in out
    assert "2025-03-12 06:00:00 CET  before the job existed" in out
    assert "2025-03-12 07:00:00 CET  before the job existed" in out  # the creation instant (06:00 UTC)
    assert "2025-03-12 08:00:00 CET  ran on time: succeeded in 1.0 s, started 1.0 s after the slot" in out
    assert "2025-03-12 12:00:00 CET  skipped: for overlap" in out
    assert "2025-03-12 13:00:00 CET  due, not yet dispatched" in out
    assert "Summary: 4 ran on time, 1 skipped, 1 due, not yet dispatched, 2 before the job existed" in out


def test_progress_is_a_line_per_step_on_stderr(job):
    _, err = run(str(job.pk))
    lines = err.splitlines()
    assert [line.split("]")[0] + "]" for line in lines] == [f"[{n}/5]" for n in range(1, 6)]
    assert "reading the audit trail" in lines[0]
    assert run(str(job.pk), "-v", "0")[1] == ""


def test_alike_slots_are_folded(job):
    out, _ = run(str(job.pk), "--since", "8h")
    assert "2025-03-12 08:00:00 CET to 2025-03-12 11:00:00 CET  4 slots ran on time" in out
    assert "started at most 1.0 s after their slots" in out


def test_json_output_is_the_api_shape(job):
    out, _ = run(str(job.pk), "--since", "30m", "--json")
    data = json.loads(out)
    assert data["job"]["id"] == str(job.pk)
    assert [s["outcome"] for s in data["slots"]] == ["pending"]


def test_a_window_longer_than_the_retention_says_so(job, settings):
    settings.RUNS_RETENTION_DAYS = 1
    out, _ = run(str(job.pk), "--since", "3d")
    assert "longer than the 1 day(s) of run history kept (RUNS_RETENTION_DAYS)" in out


def test_iso_since(job):
    out, _ = run(str(job.pk), "--since", "2025-03-12T10:30:00+01:00")
    assert "Window: 2025-03-12T09:30:00Z" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["not-a-uuid"], "is not a job id"),
        ([str(uuid.uuid4())], "No job with id"),
        (["JOB", "--since", "yesterday"], "--since: "),
        (["JOB", "--since", "2030-01-01T00:00:00Z"], "not in the past"),
    ],
)
def test_errors(job, args, message):
    args = [str(job.pk) if arg == "JOB" else arg for arg in args]
    with pytest.raises(CommandError, match=message):
        run(*args)
