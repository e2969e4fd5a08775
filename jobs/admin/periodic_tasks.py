"""django-celery-beat's admins, made job-aware: the rows that mirror a job are read-only and link to it.

The project unregisters django-celery-beat's own ModelAdmins and registers these
subclasses in their place, on the same (default) site.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from jobs.admin.shared import change_url
from jobs.models import Job

JOB_TASK_PREFIX = "job:"


def job_id_of_task(task: PeriodicTask | None) -> uuid.UUID | None:
    """The job a PeriodicTask mirrors (jobs.beat.mirror names them `job:<uuid>`), or None."""
    if task is None or not (task.name or "").startswith(JOB_TASK_PREFIX):
        return None
    try:
        return uuid.UUID(task.name.removeprefix(JOB_TASK_PREFIX))
    except ValueError:
        return None


class JobOwnedFilter(admin.SimpleListFilter):
    title = "managed by"
    parameter_name = "managed_by"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("job", "A job (read-only)"), ("other", "Not a job")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> QuerySet[PeriodicTask]:
        if self.value() == "job":
            return queryset.filter(name__startswith=JOB_TASK_PREFIX)
        if self.value() == "other":
            return queryset.exclude(name__startswith=JOB_TASK_PREFIX)
        return queryset


_JOB_TASK_NOTE = "Mirrors a job: change, pause or run the job instead, so its schedule and this row stay in step."


class JobAwarePeriodicTaskAdmin(beat_admin.PeriodicTaskAdmin):
    """django-celery-beat's admin, with job-owned tasks read-only and linked to their job.

    Editing such a row here would silently desync it from its job (the job
    service rewrites it on the next change), so only the job's pages may change it.
    """

    list_display = ("name", "job_link", "enabled", "scheduler", "interval", "start_time", "last_run_at", "one_off")
    list_filter = [JobOwnedFilter, *beat_admin.PeriodicTaskAdmin.list_filter]

    @admin.display(description="Job")
    def job_link(self, task: PeriodicTask) -> str:
        job_id = job_id_of_task(task)
        if job_id is None:
            return "—"
        return format_html('<a href="{}">{}</a>', change_url(Job, job_id), "open job")

    def _is_job_owned(self, obj: PeriodicTask | None) -> bool:
        return job_id_of_task(obj) is not None

    def has_change_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        return not self._is_job_owned(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: PeriodicTask | None = None) -> bool:
        return not self._is_job_owned(obj) and super().has_delete_permission(request, obj)

    def get_fieldsets(self, request: HttpRequest, obj: PeriodicTask | None = None) -> Any:
        fieldsets = super().get_fieldsets(request, obj)
        if self._is_job_owned(obj):
            return [("Managed by a job", {"fields": ("job_link",), "description": _JOB_TASK_NOTE}), *fieldsets]
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

    @admin.action(description="Enable selected tasks (not job-owned)")
    def enable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().enable_tasks(request, self._not_job_owned(request, queryset))

    @admin.action(description="Disable selected tasks (not job-owned)")
    def disable_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().disable_tasks(request, self._not_job_owned(request, queryset))

    @admin.action(description="Toggle activity of selected tasks (not job-owned)")
    def toggle_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
        super().toggle_tasks(request, self._not_job_owned(request, queryset))

    @admin.action(description="Run selected tasks (not job-owned)")
    def run_tasks(self, request: HttpRequest, queryset: QuerySet[PeriodicTask]) -> None:
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
