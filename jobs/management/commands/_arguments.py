"""Argument handling shared by the jobs commands (a module with a leading underscore is not a command)."""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError

from jobs.models import Job


def job_from_argument(job_id: str) -> Job:
    """The job a command was given by id, or a CommandError that says what is wrong."""
    try:
        pk = uuid.UUID(job_id)
    except ValueError:
        raise CommandError(f"{job_id!r} is not a job id (a UUID).") from None
    job = Job.objects.filter(pk=pk).first()
    if job is None:
        raise CommandError(f"No job with id {job_id}.")
    return job
