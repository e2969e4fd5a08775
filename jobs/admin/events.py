"""The audit trail: read-only, reachable by job reference so a deleted job's events stay listed."""

from __future__ import annotations

import uuid
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from jobs.admin.shared import ReadOnlyAdmin, change_url, event_summary, event_time
from jobs.models import Job, JobEvent


class JobRefFilter(admin.SimpleListFilter):
    """Events of one job (by reference, so a deleted job's trail stays reachable)."""

    title = "job"
    parameter_name = "job_ref"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        value = self.value()
        if not value:
            return []
        event = JobEvent.objects.filter(job_ref=value).only("job_name").first() if _is_uuid(value) else None
        return [(value, event.job_name if event else value)]

    def queryset(self, request: HttpRequest, queryset: QuerySet[JobEvent]) -> QuerySet[JobEvent]:
        value = self.value()
        if not value:
            return queryset
        if not _is_uuid(value):  # the admin's "?e=1" page, not every job's events
            raise IncorrectLookupParameters(f"{value!r} is not a job id")
        return queryset.filter(job_ref=value)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@admin.register(JobEvent)
class JobEventAdmin(ReadOnlyAdmin):
    list_display = ("when", "job_link", "actor_name", "kind", "summary")
    list_filter = ("kind", JobRefFilter, ("created_at", admin.DateFieldListFilter))
    search_fields = ("job_name", "actor_name")
    search_help_text = "Search by job name or actor."
    fields = ("when", "job_link", "actor_name", "kind", "summary", "changes")
    readonly_fields = ("when", "job_link", "summary")

    @admin.display(description="When", ordering="created_at")
    def when(self, event: JobEvent) -> str:
        return event_time(event.created_at)

    @admin.display(description="Job", ordering="job_name")
    def job_link(self, event: JobEvent) -> str:
        if event.job_id is None:
            return format_html('{} <span class="quiet">{}</span>', event.job_name, "(deleted)")
        return format_html('<a href="{}">{}</a>', change_url(Job, event.job_id), event.job_name)

    @admin.display(description="Details")
    def summary(self, event: JobEvent) -> str:
        return event_summary(event)
