"""Reads on jobs: what a user may see, and each job's runs and audit trail.

Ownership is enforced here, not in views: a user sees only their own jobs and
staff see every job. Asking for a job one may not see raises Http404, the same
as a job that does not exist, so ids of other users' jobs are not disclosed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.db.models import Prefetch, QuerySet
from django.http import Http404

from jobs.models import Alert, AlertDelivery, Channel, Job, JobEvent, JobRun


def _visible_to(user: Any, rows: QuerySet[Any]) -> QuerySet[Any]:
    """`rows` (of a model with an owner) that `user` may see: their own; staff see all. Owner joined."""
    rows = rows.select_related("owner")
    return rows if user.is_staff else rows.filter(owner=user)


def _one_visible(rows: QuerySet[Any], row_id: Any, *, missing: str) -> Any:
    """The row of `rows` with this id, or Http404 (`missing`) for an id that is malformed, unknown or not visible."""
    try:
        pk = row_id if isinstance(row_id, uuid.UUID) else uuid.UUID(str(row_id))
    except ValueError:
        raise Http404(missing) from None
    row = rows.filter(pk=pk).first()
    if row is None:
        raise Http404(missing)
    return row


def job_list_for_user(*, user: Any) -> QuerySet[Job]:
    """The jobs `user` may see, owner joined (the API shows the owner's username)."""
    # `id` breaks ties: staff see jobs of the same name from several owners,
    # and pages must not overlap.
    return _visible_to(user, Job.objects.all()).order_by("name", "id")


def job_get_for_user(*, user: Any, job_id: Any) -> Job:
    """One job `user` may see, or Http404."""
    return _one_visible(job_list_for_user(user=user), job_id, missing="No such job.")


def job_runs(*, job: Job) -> QuerySet[JobRun]:
    """The job's run history, newest first."""
    return JobRun.objects.filter(job_id=job.pk).order_by("-scheduled_for", "-created_at", "id")


def job_events(*, job: Job) -> QuerySet[JobEvent]:
    """The job's audit trail, newest first (events keep `job_ref` after the job is gone)."""
    return JobEvent.objects.filter(job_ref=job.pk).order_by("-created_at", "id")


def job_alerts(*, job: Job) -> QuerySet[Alert]:
    """The job's alerts, newest first, each with its deliveries (one more query per page: a foreign-key prefetch)."""
    deliveries = AlertDelivery.objects.select_related("channel").order_by("created_at", "id")
    return (
        Alert.objects.filter(job_ref=job.pk)
        .prefetch_related(Prefetch("deliveries", queryset=deliveries))
        .order_by("-created_at", "id")
    )


def channel_list_for_user(*, user: Any) -> QuerySet[Channel]:
    """The alert channels `user` may see: their own (staff: every channel)."""
    return _visible_to(user, Channel.objects.all()).order_by("name", "id")


def channel_get_for_user(*, user: Any, channel_id: Any) -> Channel:
    """One channel `user` may see, or Http404 (another user's channel is not disclosed)."""
    return _one_visible(channel_list_for_user(user=user), channel_id, missing="No such channel.")


def next_run_at(*, stored: datetime | None, enabled: bool, first_fire: datetime | None) -> datetime | None:
    """When a job runs next, as its users mean it.

    `stored`: its `next_run_at`; `first_fire`: its schedule's first fire time after now.

    Beat claims a slot up to JOBS_BEAT_LOOKAHEAD_SECONDS before it and moves
    `Job.next_run_at` on past it at once. A fire time between now and the
    stored value is such a slot, claimed and still to come: that is the next
    run. Otherwise the stored value stands (it may be in the past while beat
    is behind or stopped, which is worth seeing).
    """
    if stored is None or first_fire is None or not enabled:
        return stored
    return min(stored, first_fire)
