"""Audit 6: keys. Contrib and django-celery-beat rows have ObjectId keys on MongoDB, integers in SQL.

The project's own models use UUIDs everywhere; where a contrib or beat key
reaches JSON, it is turned into a string first.
"""

from __future__ import annotations

from typing import Any

from django.test import Client
from django_celery_beat.models import CrontabSchedule, IntervalSchedule, PeriodicTask

from accounts.models import User
from jobs.models import Job, JobEvent, JobRun


def test_the_projects_own_keys_are_uuids() -> None:
    for model in (User, Job, JobRun, JobEvent):
        assert model._meta.pk.get_internal_type() == "UUIDField", model


def test_the_periodic_task_page_hands_its_script_crontab_ids_as_strings(staff: Any, make_job: Any) -> None:
    make_job(schedule={"kind": "cron", "cron": "0 9 * * 1", "timezone": "UTC"})
    every = IntervalSchedule.objects.create(every=1, period="hours")
    task = PeriodicTask.objects.create(name="housekeeping", task="jobs.prune_runs", interval=every)
    client = Client()
    client.force_login(staff)
    response = client.get(f"/admin/django_celery_beat/periodictask/{task.pk}/change/")
    assert response.status_code == 200
    crontab = CrontabSchedule.objects.get()
    # json_script cannot encode an ObjectId key; the page's script looks entries up by a <select> value.
    assert response.context["readable_crontabs"] == {str(crontab.pk): crontab.human_readable}
