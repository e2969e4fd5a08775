"""The django-celery-beat mirror of jobs (jobs.beat.mirror), kept by the services."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, PeriodicTasks

from jobs import services
from jobs.beat import mirror
from jobs.models import Job

pytestmark = pytest.mark.django_db

BERLIN_WEEKDAYS = {"kind": "cron", "cron": "0 9 * * 1-5", "timezone": "Europe/Berlin"}


def row_of(job) -> PeriodicTask:
    return PeriodicTask.objects.get(name=f"job:{job.pk}")


def test_a_cron_job_is_mirrored_with_its_time_zone(make_job):
    job = make_job(schedule=BERLIN_WEEKDAYS)
    task = row_of(job)
    assert task.task == "jobs.run_job"
    assert json.loads(task.kwargs) == {"job_id": str(job.pk)}
    assert task.enabled
    assert task.interval is None and task.clocked is None
    crontab = task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_month, crontab.month_of_year, crontab.day_of_week) == (
        "0",
        "9",
        "*",
        "*",
        "1-5",
    )
    assert str(crontab.timezone) == "Europe/Berlin"
    assert "Every weekday at 09:00 (Europe/Berlin)" in task.description


def test_an_interval_job_is_mirrored_with_its_anchor(make_job):
    job = make_job(schedule={"kind": "interval", "every": 15, "unit": "minutes"})
    task = row_of(job)
    assert (task.interval.every, task.interval.period) == (15, "minutes")
    assert task.start_time == job.interval_anchor
    assert not task.one_off


def test_a_one_off_job_is_mirrored_as_clocked(make_job):
    at = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    job = make_job(schedule={"kind": "once", "at": at.isoformat()})
    task = row_of(job)
    assert task.clocked.clocked_time == at
    assert task.one_off


def test_pause_and_resume_follow_the_job(make_job, user):
    job = make_job()
    services.job_pause(job=job, actor=user)
    assert not row_of(job).enabled
    services.job_resume(job=job, actor=user)
    assert row_of(job).enabled


def test_identical_schedules_share_one_row(make_job):
    first, second = make_job(schedule=BERLIN_WEEKDAYS), make_job(schedule=BERLIN_WEEKDAYS)
    assert row_of(first).crontab_id == row_of(second).crontab_id
    assert CrontabSchedule.objects.count() == 1
    make_job(schedule={**BERLIN_WEEKDAYS, "timezone": "UTC"})
    assert CrontabSchedule.objects.count() == 2


def test_a_schedule_row_no_longer_used_is_deleted(make_job, user):
    job = make_job(schedule=BERLIN_WEEKDAYS)
    services.job_update(job=job, actor=user, data={"schedule": {"kind": "interval", "every": 1, "unit": "hours"}})
    task = row_of(job)
    assert task.crontab is None and task.interval is not None
    assert not CrontabSchedule.objects.exists()


def test_delete_removes_the_row_and_keeps_shared_schedules(make_job, user):
    first, second = make_job(schedule=BERLIN_WEEKDAYS), make_job(schedule=BERLIN_WEEKDAYS)
    services.job_delete(job=first, actor=user)
    assert not PeriodicTask.objects.filter(name=f"job:{first.pk}").exists()
    assert CrontabSchedule.objects.count() == 1
    services.job_delete(job=second, actor=user)
    assert not CrontabSchedule.objects.exists()


def test_mirror_writes_leave_the_change_marker_alone(make_job, user):
    # No scheduler fires job: rows, so a job write must not make beat reload its stock entries.
    PeriodicTasks.update_changed()
    before = PeriodicTasks.last_change()
    job = make_job(schedule=BERLIN_WEEKDAYS)
    services.job_pause(job=job, actor=user)
    services.job_resume(job=job, actor=user)
    services.job_update(job=job, actor=user, data={"name": "renamed"})
    services.job_delete(job=make_job(schedule=BERLIN_WEEKDAYS), actor=user)
    assert PeriodicTasks.last_change() == before
    assert row_of(job).enabled


def test_sync_all_repairs_the_mirror_with_one_change_marker(make_job, monkeypatch):
    kept, lost = make_job(schedule=BERLIN_WEEKDAYS), make_job()
    PeriodicTask.objects.filter(name=f"job:{lost.pk}").delete()  # e.g. restored from a backup
    orphan = PeriodicTask.objects.create(
        name="job:00000000-0000-0000-0000-000000000000", task="jobs.run_job", interval=IntervalSchedule.objects.first()
    )
    duplicate = CrontabSchedule.objects.create(
        minute="0", hour="9", day_of_month="*", month_of_year="*", day_of_week="1-5", timezone="Europe/Berlin"
    )
    PeriodicTask.objects.filter(name=f"job:{kept.pk}").update(crontab=duplicate)
    other = PeriodicTask.objects.create(name="ops:weekday-report", task="ops.report", crontab=duplicate)
    markers = []
    monkeypatch.setattr(PeriodicTasks, "update_changed", classmethod(lambda cls, **kw: markers.append(1)))

    counts = mirror.sync_all()

    assert counts == {"synced": 2, "removed": 1, "merged": 1}
    assert markers == [1]
    assert row_of(lost).enabled
    assert not PeriodicTask.objects.filter(pk=orphan.pk).exists()
    assert CrontabSchedule.objects.count() == 1
    other.refresh_from_db()  # a task that is not a job keeps its schedule, on the surviving row
    assert other.crontab_id == row_of(kept).crontab_id
    assert mirror.sync_all() == {"synced": 0, "removed": 0, "merged": 0}


def test_clocked_rows_are_reused_for_the_same_instant(make_job):
    at = datetime(2031, 1, 1, 12, 0, tzinfo=UTC)
    make_job(schedule={"kind": "once", "at": at.isoformat()})
    make_job(schedule={"kind": "once", "at": at.isoformat()})
    assert ClockedSchedule.objects.count() == 1


@pytest.mark.parametrize(
    "schedule",
    [BERLIN_WEEKDAYS, {"kind": "interval", "every": 15, "unit": "minutes"}, {"kind": "once", "at": "2031-01-01T12Z"}],
    ids=["cron", "interval", "once"],
)
def test_a_new_mirror_row_is_what_the_orm_would_write(make_job, schedule):
    # With its schedule row already there, a new job's mirror is written in
    # one statement on PostgreSQL (jobs.execution.store.sql), by the ORM elsewhere.
    make_job(schedule=schedule)
    job = make_job(schedule=schedule)
    task = row_of(job)
    expected = PeriodicTask(name=task.name)
    mirror._apply(expected, job)
    columns = [f.attname for f in PeriodicTask._meta.concrete_fields if f.attname not in ("id", "date_changed")]
    assert {name: getattr(task, name) for name in columns} == {name: getattr(expected, name) for name in columns}
    assert timezone.now() - task.date_changed < timedelta(minutes=1)


def test_a_new_job_uses_the_oldest_identical_schedule_row_or_makes_one(make_job, user):
    first = make_job(schedule=BERLIN_WEEKDAYS)
    oldest = row_of(first).crontab_id
    # A twin row, as two concurrent first creates can leave (sync_all folds them).
    twin = CrontabSchedule.objects.get(pk=oldest)
    twin.pk = None
    CrontabSchedule.objects.bulk_create([twin])
    assert row_of(make_job(schedule=BERLIN_WEEKDAYS)).crontab_id == oldest

    for job in Job.objects.all():
        services.job_delete(job=job, actor=user)
    CrontabSchedule.objects.all().delete()  # e.g. removed by another process meanwhile
    task = row_of(make_job(schedule=BERLIN_WEEKDAYS))
    assert CrontabSchedule.objects.get().pk == task.crontab_id


# --- the check beside the services (beat runs it in the background) --------------------------------


def test_a_job_edited_after_the_check_read_it_keeps_its_new_mirror(make_job, user):
    job = make_job(schedule=BERLIN_WEEKDAYS)
    read_by_the_check = Job.objects.get(pk=job.pk)
    services.job_update(job=job, actor=user, data={"schedule": {"kind": "interval", "every": 5, "unit": "minutes"}})
    counts = {"synced": 0, "removed": 0, "merged": 0}

    mirror._sync_chunk([read_by_the_check], mirror._RowCache(), counts)

    task = row_of(job)
    assert (task.interval.every, task.interval.period, task.crontab) == (5, "minutes", None)
    assert counts["synced"] == 0  # the service's write was already right


def test_a_job_created_while_the_check_ran_is_not_an_orphan(make_job):
    read_by_the_check = make_job()
    created_meanwhile = make_job()
    orphan = PeriodicTask.objects.create(
        name="job:00000000-0000-0000-0000-000000000000", task="jobs.run_job", interval=IntervalSchedule.objects.first()
    )
    assert mirror._remove_orphans({f"job:{read_by_the_check.pk}"}) == 1
    assert row_of(created_meanwhile) is not None
    assert not PeriodicTask.objects.filter(pk=orphan.pk).exists()
