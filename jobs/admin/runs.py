"""Runs: read-only, times in the job's own zone, the result and the error in full on a run's page."""

from __future__ import annotations

from django.contrib import admin
from django.utils.html import format_html

from jobs.admin.shared import ReadOnlyAdmin, change_url, duration, excerpt, in_zone, lateness, status_badge
from jobs.models import Job, JobRun


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    list_display = (
        "short_id",
        "job_link",
        "status_badge",
        "trigger",
        "attempt",
        "scheduled_display",
        "started_display",
        "lateness_display",
        "duration_display",
        "error_excerpt",
    )
    list_display_links = ("short_id",)
    list_select_related = ("job",)
    list_filter = ("status", "trigger", ("scheduled_for", admin.DateFieldListFilter), "job")
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

    @admin.display(description="Run", ordering="scheduled_for")
    def short_id(self, run: JobRun) -> str:
        return str(run.pk)[:8]

    @admin.display(description="Job", ordering="job__name")
    def job_link(self, run: JobRun) -> str:
        return format_html('<a href="{}">{}</a>', change_url(Job, run.job_id), run.job.name)

    @admin.display(description="Status", ordering="status")
    def status_badge(self, run: JobRun) -> str:
        return status_badge(run.status)

    # Times in the job's own zone, as on the job's page.
    @admin.display(description="Scheduled for", ordering="scheduled_for")
    def scheduled_display(self, run: JobRun) -> str:
        return in_zone(run.scheduled_for, run.job.timezone)

    @admin.display(description="Started", ordering="started_at")
    def started_display(self, run: JobRun) -> str:
        return in_zone(run.started_at, run.job.timezone)

    @admin.display(description="Finished")
    def finished_display(self, run: JobRun) -> str:
        return in_zone(run.finished_at, run.job.timezone)

    @admin.display(description="Recorded")
    def created_display(self, run: JobRun) -> str:
        return in_zone(run.created_at, run.job.timezone)

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
