"""`manage.py run_job <job-id>`: run a job now, in the foreground, and print the run record."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import urlsplit

from django.core.management.base import BaseCommand, CommandError

from jobs import services
from jobs.management.commands._arguments import job_from_argument
from jobs.models import FAILED_STATUSES, Job

_FIELDS = (
    "id",
    "job_id",
    "trigger",
    "attempt",
    "status",
    "reason",
    "scheduled_for",
    "started_at",
    "finished_at",
    "duration_ms",
    "worker",
    "result",
    "error",
)


class Command(BaseCommand):
    help = (
        "Run a job now in this process (a manual run, recorded like any other) and print the run record. "
        "Exits 1 if the run failed or timed out."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("job_id", help="The job's id (UUID).")
        parser.add_argument("--json", action="store_true", help="Print the run record as JSON.")

    def handle(self, *args: Any, job_id: str, **options: Any) -> None:
        job = job_from_argument(job_id)

        verbose = options.get("verbosity", 1) >= 1
        if verbose:
            self.stderr.write(f"[1/2] running {job.name!r} ({_action(job)}), timeout {job.timeout_seconds} s")
        run = services.run_execute_now(job=job, actor=None)
        if verbose:
            self.stderr.write(f"[2/2] run {run.pk} {run.status}")
        record = {name: _plain(getattr(run, name)) for name in _FIELDS}
        if options["json"]:
            self.stdout.write(json.dumps(record, indent=2))
        else:
            width = max(len(name) for name in _FIELDS)
            for name, value in record.items():
                self.stdout.write(f"{name:<{width}}  {'' if value is None else value}")
        if run.status in FAILED_STATUSES:
            raise CommandError(f"the run {run.status.replace('_', ' ')}" + (f": {run.reason}" if run.reason else ""))


def _action(job: Job) -> str:
    if job.action_type == "http":
        # Scheme, host and path only: credentials and query strings stay out of the terminal.
        url = urlsplit(job.http_url)
        return f"{job.http_method} {url.scheme}://{url.hostname}{url.path}"
    return f"task {job.task_name}"


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    return value
