"""Reads on jobs: what a user may see, and each job's runs and audit trail.

Ownership is enforced here, not in views: a user sees only their own jobs and
staff see every job. Asking for a job one may not see raises Http404, the same
as a job that does not exist, so ids of other users' jobs are not disclosed.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import Http404

from jobs.models import Job, JobEvent, JobRun


def job_list_for_user(*, user: Any) -> QuerySet[Job]:
    """The jobs `user` may see, owner joined (the API shows the owner's username)."""
    jobs = Job.objects.select_related("owner")
    if not user.is_staff:
        jobs = jobs.filter(owner=user)
    # `id` breaks ties: staff see jobs of the same name from several owners,
    # and pages must not overlap.
    return jobs.order_by("name", "id")


def job_get_for_user(*, user: Any, job_id: Any) -> Job:
    """One job `user` may see, or Http404."""
    try:
        pk = job_id if isinstance(job_id, uuid.UUID) else uuid.UUID(str(job_id))
    except ValueError:
        raise Http404("No such job.") from None
    job = job_list_for_user(user=user).filter(pk=pk).first()
    if job is None:
        raise Http404("No such job.")
    return job


def job_runs(*, job: Job) -> QuerySet[JobRun]:
    """The job's run history, newest first."""
    return JobRun.objects.filter(job_id=job.pk).order_by("-scheduled_for", "-created_at", "id")


def job_events(*, job: Job) -> QuerySet[JobEvent]:
    """The job's audit trail, newest first (events keep `job_ref` after the job is gone)."""
    return JobEvent.objects.filter(job_ref=job.pk).order_by("-created_at", "id")
