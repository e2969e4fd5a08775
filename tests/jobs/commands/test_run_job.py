"""`manage.py run_job <job-id>`: a manual run, executed in the foreground, its record printed."""

from __future__ import annotations

import io
import json
import re
import uuid
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from jobs.models import EventKind, JobEvent, JobRun
from tests import factories


def make_job(owner: Any, task: str, **kwargs: Any) -> Any:
    return factories.job(owner, name=f"job-{task}", action=factories.task_action(task, **kwargs))


def run_job(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("run_job", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_runs_in_the_foreground_and_prints_the_record(user):
    job = make_job(user, "echo", greeting="hello")
    out, err = run_job(str(job.pk))
    run = JobRun.objects.get(job=job)
    assert (run.trigger, run.status) == ("manual", "succeeded")
    assert re.search(rf"^id\s+{run.pk}$", out, re.MULTILINE)
    assert re.search(r"^status\s+succeeded$", out, re.MULTILINE)
    assert "hello" in out  # the result
    assert err.splitlines()[0].startswith("[1/2] running 'job-echo' (task echo)")
    assert err.splitlines()[1] == f"[2/2] run {run.pk} succeeded"
    assert JobEvent.objects.filter(job_ref=job.pk, kind=EventKind.RUN_REQUESTED).exists()


def test_json_record(user):
    job = make_job(user, "echo")
    out, _ = run_job(str(job.pk), "--json")
    record = json.loads(out)
    assert record["job_id"] == str(job.pk)
    assert record["status"] == "succeeded"
    assert record["duration_ms"] is not None


def test_a_failed_run_prints_its_record_and_exits_1(user):
    job = make_job(user, "fail", message="boom")
    out = io.StringIO()
    with pytest.raises(CommandError, match="the run failed"):
        call_command("run_job", str(job.pk), stdout=out, stderr=io.StringIO())
    assert re.search(r"^status\s+failed$", out.getvalue(), re.MULTILINE)
    assert "boom" in out.getvalue()


@pytest.mark.parametrize(("job_id", "message"), [("nope", "is not a job id"), (str(uuid.uuid4()), "No job with id")])
def test_unknown_job(job_id, message, db):
    with pytest.raises(CommandError, match=message):
        run_job(job_id)
