"""Runs: read-only, times in the job's own zone, the result and the error in full on a run's page."""

from __future__ import annotations

import contextlib
import uuid
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from jobs.admin.shared import (
    ReadOnlyAdmin,
    change_url,
    duration,
    event_time,
    excerpt,
    in_zone,
    lateness,
    slot_time,
    status_badge,
)
from jobs.models import Job, JobRun


class JobFilter(admin.SimpleListFilter):
    """The runs of one job, reached from the job's page ("all runs"); the sidebar shows only that job.

    Django's related-field filter would list every job as a link (510 jobs made a
    12,000-px page); jobs are found with the search box instead.
    """

    title = "job"
    parameter_name = "job__id__exact"  # the job page's "all runs" link

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        # The chosen value is always listed: Django applies only filters that list something, and a
        # deleted job's "all runs" must show none, not everyone's.
        value = self.value()
        if not value:
            return []
        job = None
        with contextlib.suppress(ValueError):
            job = Job.objects.only("id", "name").filter(pk=uuid.UUID(value)).first()
        return [(value, job.name if job is not None else "(no such job)")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[JobRun]) -> QuerySet[JobRun]:
        if not self.value():
            return queryset
        try:
            job_id = uuid.UUID(self.value())
        except ValueError as exc:  # the admin shows its "?e=1" page instead of a 500
            raise IncorrectLookupParameters(f"{self.value()!r} is not a job id") from exc
        return queryset.filter(job_id=job_id)


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = (
        "short_id",
        "status_badge",  # next to the id, so a phone shows it without scrolling
        "job_link",
        "trigger",
        "scheduled_display",
        "lateness_display",
        "duration_display",
        "error_excerpt",
    )
    list_display_links = ("short_id",)
    list_select_related = ("job",)
    list_filter = ("status", "trigger", ("scheduled_for", admin.DateFieldListFilter), JobFilter)
    search_fields = ("job__name",)
    search_help_text = "Search by job name."
    list_per_page = 100
    fieldsets = (
        (None, {"fields": ("job_link", "status_badge", "trigger", "attempt", "reason", "worker")}),
        (
            "Timing",
            {
                "fields": (
                    ("scheduled_display", "started_display", "finished_display"),
                    ("lateness_display", "duration_display"),
                    "created_display",
                )
            },
        ),
        ("Outcome", {"fields": ("result_block", "error_block")}),
    )
    readonly_fields = (
        "job_link",
        "status_badge",
        "scheduled_display",
        "started_display",
        "finished_display",
        "created_display",
        "lateness_display",
        "duration_display",
        "result_block",
        "error_block",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[JobRun]:
        return super().get_queryset(request).select_related("job")

    def render_change_form(self, request: HttpRequest, context: dict[str, Any], *args: Any, **kwargs: Any) -> Any:
        # A run is known by its job and slot, not by its UUID.
        run = context.get("original")
        if run is not None:
            context["title"] = f"Run of {run.job.name}"
            context["subtitle"] = f"for {in_zone(run.scheduled_for, run.job.timezone)} · {run.get_status_display()}"
        return super().render_change_form(request, context, *args, **kwargs)

    # The list leaves out the start time and the attempt to fit a laptop screen: the start is the slot
    # plus the lateness, and a retry's attempt follows its id (both are on the run's page).
    @admin.display(description="Run", ordering="scheduled_for")
    def short_id(self, run: JobRun) -> str:
        return f"{str(run.pk)[:8]} #{run.attempt}" if run.attempt > 1 else str(run.pk)[:8]

    @admin.display(description="Job", ordering="job__name")
    def job_link(self, run: JobRun) -> str:
        return format_html('<a href="{}">{}</a>', change_url(Job, run.job_id), run.job.name)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, run: JobRun) -> str:
        return status_badge(run.status)

    # Times in the job's own zone, as on the job's page.
    @admin.display(description="Scheduled for", ordering="scheduled_for")
    def scheduled_display(self, run: JobRun) -> str:
        return slot_time(run.scheduled_for, run.job.timezone)

    @admin.display(description="Started", ordering="started_at")
    def started_display(self, run: JobRun) -> str:
        return event_time(run.started_at, run.job.timezone)

    @admin.display(description="Finished")
    def finished_display(self, run: JobRun) -> str:
        return event_time(run.finished_at, run.job.timezone)

    @admin.display(description="Recorded")
    def created_display(self, run: JobRun) -> str:
        return event_time(run.created_at, run.job.timezone)

    @admin.display(description="Lateness")
    def lateness_display(self, run: JobRun) -> str:
        return lateness(run)

    @admin.display(description="Duration", ordering="duration_ms")
    def duration_display(self, run: JobRun) -> str:
        return duration(run)

    @admin.display(description="Error")
    def error_excerpt(self, run: JobRun) -> str:
        return excerpt(run.error or run.reason, 80)

    @admin.display(description="Result")
    def result_block(self, run: JobRun) -> str:
        return format_html('<pre class="run-output">{}</pre>', run.result or "—")

    @admin.display(description="Error")
    def error_block(self, run: JobRun) -> str:
        return format_html('<pre class="run-output run-output--error">{}</pre>', run.error or "—")
