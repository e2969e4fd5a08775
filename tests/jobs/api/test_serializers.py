"""The hand-written JobSerializer representations must equal DRF's generic rendering."""

from __future__ import annotations

from typing import Any

import pytest
from django.utils import timezone
from rest_framework import serializers

from jobs.api.serializers import JOB_COLUMNS, JobSerializer
from jobs.models import Job

SPECS = [
    {"schedule": {"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"}},
    {"schedule": {"kind": "interval", "every": 15, "unit": "minutes"}, "enabled": False},
    {"schedule": {"kind": "once", "at": "2031-01-01T12:00:00+01:00"}, "pause_after_failures": 3},
    {
        "schedule": {"kind": "cron", "cron": "*/5 * * * *", "timezone": "America/New_York"},
        "action": {
            "type": "http",
            "url": "http://collector.example.net/x",
            "headers": {"Authorization": "Bearer s3cret"},
        },
    },
]


@pytest.mark.parametrize("spec", SPECS, ids=["phrase", "paused-interval", "once", "http"])
def test_fast_representation_equals_drf_generic_rendering(user, make_job, spec: dict[str, Any]):
    job = make_job(user, **spec)
    job = Job.objects.select_related("owner").get(pk=job.pk)
    job.last_run_at = timezone.now()  # a datetime with microseconds
    job.last_status = "succeeded"
    context = {"now": timezone.now()}
    serializer = JobSerializer(context=context)
    generic = serializers.Serializer.to_representation(serializer, job)
    assert serializer.to_representation(job) == dict(generic)
    assert list(serializer.to_representation(job)) == list(generic)


def test_a_page_rendered_from_rows_equals_the_jobs_rendered_one_by_one(user, make_job):
    # The list renders `values(*JOB_COLUMNS)` rows; detail and writes render model instances.
    for n, spec in enumerate(SPECS):
        make_job(user, name=f"job-{n}", **spec)
    Job.objects.filter(owner=user, name="job-0").update(last_run_at=timezone.now(), last_status="failed")
    jobs = Job.objects.select_related("owner").order_by("name")
    serializer = JobSerializer(context={"now": timezone.now()})
    by_rows = serializer.rows_representation(jobs.values(*JOB_COLUMNS))
    assert by_rows == [serializer.to_representation(job) for job in jobs]
    assert [list(data) for data in by_rows] == [list(serializer.to_representation(job)) for job in jobs]
