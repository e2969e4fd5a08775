"""django-celery-beat's admins, made job-aware: rows the project manages are read-only.

Two kinds of row are managed elsewhere, and editing them here would be undone or
would break the service silently:
- a job's mirror (`job:<uuid>`): the job's pages change it; the row shows the
  job's name, a link to it and the job's own last run;
- a system task (`system:...` from `CELERY_BEAT_SCHEDULE`, celery's
  `celery.backend_cleanup`): beat re-creates it from settings on start, and
  disabling the reaper would leave lost runs `running` forever. It cannot be
  changed, disabled or deleted here; change the setting instead.

The project unregisters django-celery-beat's own ModelAdmins and registers these
subclasses in their place, on the same (default) site.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin.views.main import ChangeList
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from jobs.admin.shared import change_url, event_time
from jobs.models import Job

JOB_TASK_PREFIX = "job:"
# Celery adds this entry itself when a result backend with expiry is configured.
CELERY_SYSTEM_TASKS = ("celery.backend_cleanup",)


def system_task_names() -> list[str]:
    """Names of the periodic tasks the service defines in settings (beat re-creates them on start), sorted."""
    return sorted({*settings.CELERY_BEAT_SCHEDULE, *CELERY_SYSTEM_TASKS})


def job_id_of_task(task: PeriodicTask | None) -> uuid.UUID | None:
    """The job a PeriodicTask mirrors (jobs.beat.mirror names them `job:<uuid>`), or None."""
    if task is None or not (task.name or "").startswith(JOB_TASK_PREFIX):
        return None
    try:
        return uuid.UUID(task.name.removeprefix(JOB_TASK_PREFIX))
    except ValueError:
        return None


def is_managed(task: PeriodicTask | None) -> bool:
    """A row the admin must not change: a job's mirror or a system task."""
    return task is not None and (job_id_of_task(task) is not None or task.name in system_task_names())


class JobOwnedFilter(admin.SimpleListFilter):
    title = "managed by"
    parameter_name = "managed_by"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("job", "A job (read-only)"), ("system", "The service (read-only)"), ("other", "Neither")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> QuerySet[PeriodicTask]:
        if self.value() == "job":
            return queryset.filter(name__startswith=JOB_TASK_PREFIX)
        if self.value() == "system":
            return queryset.filter(name__in=system_task_names())
        if self.value() == "other":
            return queryset.exclude(name__startswith=JOB_TASK_PREFIX).exclude(name__in=system_task_names())
        return queryset


class _JobAwareChangeList(ChangeList):
    """Loads the jobs the page's mirror rows belong to in one query (their names and last runs)."""

    def get_results(self, request: HttpRequest) -> None:
        super().get_results(request)
        attach_jobs(self.result_list)


def attach_jobs(tasks: Any) -> None:
    """Set `task.job` to the mirrored Job (or None) on each task, with one query for all of them."""
    ids = {job_id for job_id in map(job_id_of_task, tasks) if job_id is not None}
    jobs = Job.objects.only("id", "name", "timezone", "last_run_at").in_bulk(list(ids)) if ids else {}
    for task in tasks:
        task.job = jobs.get(job_id_of_task(task))


def _job_of(task: PeriodicTask) -> Job | None:
    if not hasattr(task, "job"):
        attach_jobs([task])
    return task.job


_JOB_TASK_NOTE = "Mirrors a job: change, pause or run the job instead, so its schedule and this row stay in step."
_SYSTEM_TASK_NOTE = (
    "A system task of the service, defined in settings (CELERY_BEAT_SCHEDULE) and re-created by beat on start. "
    "It cannot be changed, disabled or deleted here: the reaper, for one, is what ends runs whose worker died."
)


class JobAwarePeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    """django-celery-beat's admin, with job-owned tasks read-only and linked to their job.

    Editing such a row here would silently desync it from its job (the job
    service rewrites it on the next change), so only the job's pages may change it.
    """

    # Stock's columns less `interval` (the `scheduler` column shows every kind of schedule) and
    # `one_off` (on the row's page), so the list fits a laptop beside the sidebar and the filters.
    list_display = ("display_name", "job_link", "enabled", "scheduler", "start_time", "last_run_display")
    list_filter = [JobOwnedFilter, *beat_admin.PeriodicTaskAdmin.list_filter]

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return _JobAwareChangeList

    @admin.display(description="Name", ordering="name")
    def display_name(self, task: PeriodicTask) -> str:
        job = _job_of(task)
        if job is not None:
            return format_html('{} <small class="quiet">(job)</small>', job.name)
        if task.name in system_task_names():
            return format_html('{} <small class="quiet">(system)</small>', task.name)
        return task.name

    @admin.display(description="Job")
    def job_link(self, task: PeriodicTask) -> str:
        job_id = job_id_of_task(task)
        if job_id is None:
            return "—"
        return format_html('<a href="{}">{}</a>', change_url(Job, job_id), "open job")

    @admin.display(description="Last run", ordering="last_run_at")
    def last_run_display(self, task: PeriodicTask) -> str:
        # The project's scheduler never fires a mirror row, so its own last_run_at stays empty: show the job's.
        job = _job_of(task)
        if job is not None:
            return event_time(job.last_run_at, job.timezone)
        return event_time(task.last_run_at)

    def _is_job_owned(self, obj: PeriodicTask | None) -> bool:
        return job_id_of_task(obj) is not None

    def has_change_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        return not is_managed(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        return not is_managed(obj) and super().has_delete_permission(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj: PeriodicTask | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if self._is_job_owned(obj):
            return [("Managed by a job", {"fields": ("job_link",), "description": _JOB_TASK_NOTE}), *fieldsets]
        if is_managed(obj):
            return [("Managed by the service", {"fields": (), "description": _SYSTEM_TASK_NOTE}), *fieldsets]
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: PeriodicTask | None = None) -> Any:
        return (*super().get_readonly_fields(request, obj), "job_link")

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # django-celery-beat keys this by CrontabSchedule.id for json_script: an ObjectId on
        # MongoDB, which JSON cannot encode (every task page would fail once a crontab row exists).
        # The page's script looks entries up by the <select>'s value, a string on every backend.
        crontabs = context.get("readable_crontabs")
        if crontabs:
            context["readable_crontabs"] = {str(pk): text for pk, text in crontabs.items()}
        return super().render_change_form(request, context, *args, **kwargs)

    def _not_job_owned(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> QuerySet[PeriodicTask]:
        owned = queryset.filter(name__startswith=JOB_TASK_PREFIX).count()
        if owned:
            self.message_user(
                request,
                f"Skipped {owned} job-owned periodic task(s): pause, resume or run their jobs instead.",
                messages.WARNING,
            )
        return queryset.exclude(name__startswith=JOB_TASK_PREFIX)

    def _unmanaged(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> QuerySet[PeriodicTask]:
        """The selection without job-owned and system rows, with a message naming what was skipped."""
        remaining = self._not_job_owned(request, queryset)
        system = sorted(remaining.filter(name__in=system_task_names()).values_list("name", flat=True))
        if system:
            self.message_user(
                request,
                f"Skipped {len(system)} system task(s) ({', '.join(system)}): they are defined in settings.",
                messages.WARNING,
            )
        return remaining.exclude(name__in=system_task_names())

    @admin.action(description="Enable selected tasks (not job-owned or system)")
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().enable_tasks(request, self._unmanaged(request, queryset))

    @admin.action(description="Disable selected tasks (not job-owned or system)")
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().disable_tasks(request, self._unmanaged(request, queryset))

    @admin.action(description="Toggle activity of selected tasks (not job-owned or system)")
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().toggle_tasks(request, self._unmanaged(request, queryset))

    @admin.action(description="Run selected tasks (not job-owned)")
    def run_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        # Running a system task now (a reaper pass, a prune) is harmless and sometimes wanted.
        remaining = self._not_job_owned(request, queryset)
        if remaining.exists():
            super().run_tasks(request, remaining)


class JobAwareScheduleMixin:
    """A schedule row used by a job-owned periodic task is read-only too."""

    task_field = ""

    def _used_by_job(self, obj: Any) -> bool:
        if obj is None or obj.pk is None:
            return False
        return PeriodicTask.objects.filter(**{self.task_field: obj}, name__startswith=JOB_TASK_PREFIX).exists()

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._used_by_job(obj) and super().has_change_permission(request, obj)  # type: ignore[misc]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return not self._used_by_job(obj) and super().has_delete_permission(request, obj)  # type: ignore[misc]


class JobAwareCrontabScheduleAdmin(JobAwareScheduleMixin, beat_admin.CrontabScheduleAdmin):
    task_field = "crontab"


class JobAwareIntervalScheduleAdmin(JobAwareScheduleMixin, beat_admin.IntervalScheduleAdmin):
    task_field = "interval"


class JobAwareClockedScheduleAdmin(JobAwareScheduleMixin, beat_admin.ClockedScheduleAdmin):
    task_field = "clocked"


class JobAwareSolarScheduleAdmin(JobAwareScheduleMixin, beat_admin.SolarScheduleAdmin):
    task_field = "solar"


for _model, _admin_class in (
    (PeriodicTask, JobAwarePeriodicTaskAdmin),
    (CrontabSchedule, JobAwareCrontabScheduleAdmin),
    (IntervalSchedule, JobAwareIntervalScheduleAdmin),
    (ClockedSchedule, JobAwareClockedScheduleAdmin),
    (SolarSchedule, JobAwareSolarScheduleAdmin),
):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin_class)
