"""Jobs: the list (schedule in words, next run, status, a strip of recent runs), the form, the actions,
and one job's page with its buttons, recent runs, audit trail and live schedule preview.

The form and the actions write through `jobs.services`, never `save()`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST

from jobs import schedules, selectors, services
from jobs.admin.forms import JobAdminForm, ScheduleForm, fire_times
from jobs.admin.shared import (
    change_url,
    duration,
    event_summary,
    event_time,
    excerpt,
    lateness,
    slot_time,
    status_badge,
)
from jobs.diagnostics.display import relative
from jobs.models import FAILED_STATUSES, Job, JobEvent, JobRun, PauseReason, RunStatus

RECENT_RUNS_ON_JOB_PAGE = 20
EVENTS_ON_JOB_PAGE = 30
_PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"


class LastStatusFilter(admin.SimpleListFilter):
    title = "last status"
    parameter_name = "last_status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [
            ("failing", "Failing (failed or timed out)"),
            *[(value, value.replace("_", " ").capitalize()) for value in RunStatus.values],
            ("never", "Never run"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> QuerySet[Job]:
        value = self.value()
        if value == "failing":
            return queryset.filter(last_status__in=FAILED_STATUSES)
        if value == "never":
            return queryset.filter(last_status="")
        if value in RunStatus.values:
            return queryset.filter(last_status=value)
        return queryset


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    form = JobAdminForm
    # Status next to the name, so a phone shows it without scrolling; paused jobs say so under "Next run".
    list_display = ("name", "last_status_badge", "next_run", "schedule_text", "owner", "history")
    list_select_related = ("owner",)
    list_filter = ("enabled", LastStatusFilter, "schedule_kind", "owner")
    search_fields = ("name", "owner__username", "http_url", "task_name")
    search_help_text = "Search by job name, owner username, an http job's URL or a task job's task name."
    actions = ("run_now", "pause", "resume", "duplicate")  # plus the site's delete, via delete_queryset
    list_per_page = 50
    save_on_top = False

    class Media:
        js = ("jobs/job_form.js",)  # kind switching and the live preview (styles: templates/admin/base_site.html)

    # --- list columns ---------------------------------------------------------------

    @admin.display(description="Schedule")
    def schedule_text(self, job: Job) -> str:
        return schedules.describe(job.schedule)

    @admin.display(description="Next run", ordering="next_run_at")
    def next_run(self, job: Job) -> str:
        if not job.enabled:
            if not job.paused_reason:
                return format_html('<span class="job-paused">{}</span>', "paused")
            reason = PauseReason(job.paused_reason).label if job.paused_reason in PauseReason.values else ""
            return format_html('<span class="job-paused">paused</span><br><small class="quiet">{}</small>', reason)
        try:
            first_fire = schedules.next_fire_time(job.schedule, after=timezone.now())
        except (ValueError, KeyError):  # a stored schedule the module can no longer read
            first_fire = None
        when = selectors.next_run_at(stored=job.next_run_at, enabled=job.enabled, first_fire=first_fire)
        if when is None:
            return "—"
        return format_html(
            '<span data-countdown="{}">{}</span><br><small class="quiet">{}</small>',
            when.isoformat(),
            relative(when),
            slot_time(when, job.timezone),
        )

    @admin.display(description="Last status", ordering="last_status")
    def last_status_badge(self, job: Job) -> str:
        return status_badge(job.last_status)

    @admin.display(description="Last 20 runs")
    def history(self, job: Job) -> str:
        outcomes = list(reversed((job.recent_outcomes or [])[: Job.RECENT_OUTCOMES]))  # oldest first
        if not outcomes:
            return format_html('<span class="quiet">{}</span>', "no runs yet")
        base = change_url(JobRun, _PLACEHOLDER_ID)  # one reverse() per row, not per square
        squares = format_html_join(
            "",
            '<a class="run-square run-square--{}" href="{}" title="{} · {}"></a>',
            (
                (
                    outcome.get("status", ""),
                    base.replace(_PLACEHOLDER_ID, str(outcome.get("id", ""))),
                    outcome.get("status", "").replace("_", " "),
                    outcome.get("at", ""),
                )
                for outcome in outcomes
            ),
        )
        return format_html('<span class="run-strip">{}</span>', squares)

    # --- the form -------------------------------------------------------------------

    def get_form(self, request: HttpRequest, obj: Job | None = None, change: bool = False, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        return type(form.__name__, (form,), {"actor": request.user})

    def get_fieldsets(self, request: HttpRequest, obj: Job | None = None) -> Any:
        fieldsets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": ("name", "owner" if obj is None else "owner_link", "description", "enabled")}),
            (
                "Schedule",
                {
                    "fields": ("kind", "phrase", ("every", "unit"), "cron", "at", "timezone", "schedule_preview"),
                    "classes": ("schedule-fieldset",),
                },
            ),
            (
                "Action",
                {
                    "fields": (
                        "action_type",
                        ("http_method", "http_url"),
                        "http_headers",
                        "http_body",
                        "http_expected_status",
                        "task",
                        "task_args",
                        "task_kwargs",
                    ),
                    "classes": ("action-fieldset",),
                },
            ),
            (
                "Policies",
                {
                    "fields": (
                        ("timeout_seconds", "max_retries", "retry_backoff_seconds"),
                        ("overlap_policy", "catchup_policy"),
                        ("jitter_seconds", "pause_after_failures"),
                    ),
                    "classes": ("collapse",),
                },
            ),
        ]
        if obj is not None:
            # A job's page leads with its state (jobs/static/jobs/live.js refreshes this fieldset).
            state = (
                "State",
                {
                    "fields": (
                        ("last_status_badge", "last_run_display"),
                        "next_run_detail",
                        "history",
                        ("consecutive_failures", "paused_reason"),
                        ("created_display", "updated_display"),
                    ),
                    "classes": ("job-state",),
                },
            )
            fieldsets.insert(0, state)
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None) -> Any:
        fields = ["schedule_preview"]
        if obj is not None:
            fields += [
                "owner_link",
                "last_status_badge",
                "last_run_display",
                "next_run_detail",
                "history",
                "consecutive_failures",
                "paused_reason",
                "created_display",
                "updated_display",
            ]
        return fields

    @admin.display(description="Owner")
    def owner_link(self, job: Job) -> str:
        return format_html('<a href="{}">{}</a>', change_url(type(job.owner), job.owner_id), job.owner)

    @admin.display(description="Next fire times")
    def schedule_preview(self, job: Job | None) -> str:
        """Server-rendered for the saved schedule; job_form.js refreshes it as the operator types."""
        url = reverse("admin:jobs_job_preview")
        if job is None or job._state.adding:
            body = format_html('<p class="quiet">{}</p>', "Enter a schedule to see its next fire times.")
        else:
            try:
                body = render_preview({"ok": True, "human": schedules.describe(job.schedule), **_fires(job)})
            except schedules.ScheduleError as exc:
                body = format_html('<p class="errornote">{}</p>', exc.message)
        return format_html('<div id="schedule-preview" data-url="{}" aria-live="polite">{}</div>', url, body)

    @admin.display(description="Next run")
    def next_run_detail(self, job: Job) -> str:
        return self.next_run(job)

    @admin.display(description="Last run")
    def last_run_display(self, job: Job) -> str:
        return _when(job.last_run_at, job.timezone)

    @admin.display(description="Created")
    def created_display(self, job: Job) -> str:
        return _when(job.created_at, job.timezone)

    @admin.display(description="Updated")
    def updated_display(self, job: Job) -> str:
        return _when(job.updated_at, job.timezone)

    # --- writes: all through the services ---------------------------------------------

    def save_model(self, request: HttpRequest, obj: Job, form: Any, change: bool) -> None:
        # JobAdminForm already saved through job_create / job_update while validating.
        return None

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        return None

    def get_deleted_objects(self, objs: Any, request: HttpRequest) -> Any:
        # A job's runs go with it (job_delete); they are read-only on their own
        # admin page, which must not make every job that ever ran undeletable.
        deleted, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        perms_needed = {name for name in perms_needed if name != JobRun._meta.verbose_name}
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Job) -> None:
        services.job_delete(job=obj, actor=request.user)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        for job in queryset:
            services.job_delete(job=job, actor=request.user)

    @admin.action(description="Run selected jobs now", permissions=["change"])
    def run_now(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        runs = [services.job_request_run(job=job, actor=request.user) for job in queryset]
        self.message_user(request, f"Queued a manual run of {_jobs(len(runs))}.", messages.SUCCESS)

    @admin.action(description="Pause selected jobs", permissions=["change"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        paused = 0
        for job in queryset:
            if job.enabled:
                services.job_pause(job=job, actor=request.user)
                paused += 1
        self.message_user(request, f"Paused {_jobs(paused)}.", messages.SUCCESS)

    @admin.action(description="Resume selected jobs", permissions=["change"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        resumed = 0
        for job in queryset:
            if job.enabled:
                continue
            try:
                services.job_resume(job=job, actor=request.user)
            except PermissionDenied as exc:
                self.message_user(request, f"{job.name}: {exc}", messages.ERROR)
                continue
            resumed += 1
        self.message_user(request, f"Resumed {_jobs(resumed)}.", messages.SUCCESS)

    @admin.action(description="Duplicate selected jobs (copies start paused)", permissions=["add"])
    def duplicate(self, request: HttpRequest, queryset: QuerySet[Job]) -> None:
        copies = []
        for job in queryset.select_related("owner"):
            try:
                copies.append(services.job_duplicate(job=job, actor=request.user))
            except ValidationError as exc:
                self.message_user(request, f"{job.name}: {' '.join(exc.messages)}", messages.ERROR)
        if copies:
            links = format_html_join(", ", '<a href="{}">{}</a>', ((change_url(Job, c.pk), c.name) for c in copies))
            self.message_user(request, format_html("Created {} (paused): {}", _jobs(len(copies)), links))

    # --- one job's page: buttons, recent runs, audit trail ------------------------------

    def get_urls(self) -> list[Any]:
        wrap = self.admin_site.admin_view
        return [
            path("preview/", wrap(self.preview_view), name="jobs_job_preview"),
            path("<uuid:object_id>/do/<str:verb>/", wrap(self.job_action_view), name="jobs_job_do"),
            *super().get_urls(),
        ]

    def preview_view(self, request: HttpRequest) -> JsonResponse:
        """The live preview: the form's own schedule inputs, validated by the service (POST, CSRF)."""
        if request.method != "POST":
            return JsonResponse({"ok": False, "errors": {"__all__": [{"message": "POST only."}]}}, status=405)
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        result = ScheduleForm(request.POST).preview()
        return JsonResponse({**result, "html": render_preview(result)})

    _VERBS = {"run": "run_now", "pause": "pause", "resume": "resume", "duplicate": "duplicate"}

    def job_action_view(self, request: HttpRequest, object_id: uuid.UUID, verb: str) -> HttpResponse:
        """The buttons on a job's page: the list actions applied to that one job (POST only)."""
        if verb not in self._VERBS:
            raise PermissionDenied
        return require_POST(self._job_action)(request, object_id=object_id, verb=verb)

    def _job_action(self, request: HttpRequest, *, object_id: uuid.UUID, verb: str) -> HttpResponse:
        job = get_object_or_404(self.get_queryset(request), pk=object_id)
        allowed = self.has_add_permission(request) if verb == "duplicate" else self.has_change_permission(request, job)
        if not allowed:
            raise PermissionDenied
        getattr(self, self._VERBS[verb])(request, self.get_queryset(request).filter(pk=job.pk))
        return HttpResponseRedirect(change_url(Job, job.pk))

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Job | None = None,
    ) -> Any:
        if obj is not None and obj.pk is not None:
            context.update(job_page_context(obj))
        return super().render_change_form(request, context, add=add, change=change, form_url=form_url, obj=obj)


def _when(moment: datetime | None, zone: str) -> str:
    """Something that happened: in the viewer's zone, and how long ago."""
    if moment is None:
        return "—"
    return format_html('{} <span class="quiet">({})</span>', event_time(moment, zone), relative(moment))


def _jobs(n: int) -> str:
    return f"{n} job" if n == 1 else f"{n} jobs"


def _fires(job: Job) -> dict[str, Any]:
    if not job.enabled:
        return {"timezone": job.timezone, "next_runs": [], "paused": True}
    return fire_times(job.schedule, now=timezone.now())


def render_preview(result: dict[str, Any]) -> str:
    if not result.get("ok"):
        lines = format_html_join(
            "",
            "<li>{}{}</li>",
            (
                (_field_label(field), error["message"])
                for field, errors in (result.get("errors") or {}).items()
                for error in errors
            ),
        )
        return format_html('<ul class="errorlist preview-errors">{}</ul>', lines)
    rows = format_html_join(
        "",
        '<li><span class="preview-local">{}</span> <span class="quiet">{} · {}</span></li>',
        ((run["local"], run["relative"], run["utc"]) for run in result["next_runs"]),
    )
    if result.get("paused"):
        rows = format_html('<li class="quiet">{}</li>', "Paused: no upcoming runs.")
    elif not result["next_runs"]:
        rows = format_html('<li class="quiet">{}</li>', "No upcoming runs.")
    return format_html('<p class="preview-human">{}</p><ol class="preview-runs">{}</ol>', result["human"], rows)


def _field_label(name: str) -> str:
    field = ScheduleForm.base_fields.get(name)
    if field is None:
        return ""
    return f"{field.label or name.capitalize()}: "


def job_page_context(job: Job) -> dict[str, Any]:
    """Recent runs (lateness, duration, error excerpt) and the audit trail, rendered under the form."""
    runs = JobRun.objects.filter(job_id=job.pk).order_by("-scheduled_for", "-created_at")[:RECENT_RUNS_ON_JOB_PAGE]
    events = JobEvent.objects.filter(job_ref=job.pk).order_by("-created_at")[:EVENTS_ON_JOB_PAGE]
    run_url = change_url(JobRun, _PLACEHOLDER_ID)
    return {
        "recent_runs": [
            {
                "url": run_url.replace(_PLACEHOLDER_ID, str(run.pk)),
                "id": str(run.pk)[:8],
                "badge": status_badge(run.status),
                "trigger": run.get_trigger_display(),
                "attempt": run.attempt,
                "scheduled": slot_time(run.scheduled_for, job.timezone),
                "started": event_time(run.started_at, job.timezone),
                "lateness": lateness(run),
                "duration": duration(run),
                "error": excerpt(run.error or run.reason),
            }
            for run in runs
        ],
        "all_runs_url": reverse("admin:jobs_jobrun_changelist") + f"?job__id__exact={job.pk}",
        "audit_trail": [
            {
                "at": event_time(event.created_at, job.timezone),
                "relative": relative(event.created_at),
                "actor": event.actor_name,
                "kind": event.kind.replace("_", " ").capitalize(),
                "kind_value": event.kind,
                "summary": event_summary(event),
            }
            for event in events
        ],
        "all_events_url": reverse("admin:jobs_jobevent_changelist") + f"?job_ref={job.pk}",
        "job_actions": [
            ("run", "Run now"),
            ("resume", "Resume") if not job.enabled else ("pause", "Pause"),
            ("duplicate", "Duplicate"),
        ],
    }
