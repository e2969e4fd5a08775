"""The operators' admin: jobs, runs, the audit trail, an overview page, beat's mirror rows.

Every write goes through `jobs.services` (the same functions the API calls),
so the audit trail, the API cache and django-celery-beat's rows stay in step:
no `queryset.update()`, no `obj.save()` here. Runs and events are read-only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.views.decorators.http import require_POST
from django_celery_beat import admin as beat_admin
from django_celery_beat.models import ClockedSchedule, CrontabSchedule, IntervalSchedule, PeriodicTask, SolarSchedule

from jobs import schedules, selectors, services
from jobs.admin.forms import JobAdminForm, ScheduleForm, fire_times
from jobs.diagnostics.display import format_local, relative
from jobs.models import FAILED_STATUSES, EventKind, Job, JobEvent, JobRun, PauseReason, RunStatus

RECENT_RUNS_ON_JOB_PAGE = 20
EVENTS_ON_JOB_PAGE = 30
ERROR_EXCERPT = 140
_PLACEHOLDER_ID = "00000000-0000-0000-0000-000000000000"


# --- small renderers shared by the pages ------------------------------------------


def status_badge(status: str) -> str:
    if not status:
        return format_html('<span class="job-badge job-badge--none">{}</span>', "never run")
    return format_html('<span class="job-badge job-badge--{}">{}</span>', status, status.replace("_", " "))


def in_zone(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "—"
    return format_local(moment.astimezone(ZoneInfo(zone)))


def lateness(run: JobRun) -> str:
    seconds = run.lateness_seconds
    if seconds is None:
        return "—"
    return f"{seconds:+.1f} s" if abs(seconds) < 120 else f"{seconds / 60:+.1f} min"


def duration(run: JobRun) -> str:
    if run.duration_ms is None:
        return "—"
    return f"{run.duration_ms} ms" if run.duration_ms < 1000 else f"{run.duration_ms / 1000:.1f} s"


def excerpt(text: str, limit: int = ERROR_EXCERPT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _change_url(model: type, object_id: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[object_id])


def event_summary(event: JobEvent) -> str:
    """One line for an audit event: what changed, from what to what (secrets are masked by the service)."""
    changes = event.changes or {}
    if event.kind == EventKind.UPDATED:
        return "; ".join(f"{name}: {_short(c.get('old'))} → {_short(c.get('new'))}" for name, c in changes.items())
    if event.kind == EventKind.RUN_REQUESTED and changes.get("run_id"):
        return f"run {str(changes['run_id'])[:8]}"
    if changes.get("reason"):
        return PauseReason(changes["reason"]).label if changes["reason"] in PauseReason.values else changes["reason"]
    return ""


def _short(value: Any) -> str:
    text = "∅" if value in (None, "", [], {}) else str(value)
    return excerpt(text, 60)


# --- jobs ---------------------------------------------------------------------------


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
    list_display = ("name", "owner", "schedule_text", "enabled", "next_run", "last_status_badge", "history")
    list_select_related = ("owner",)
    list_filter = ("enabled", LastStatusFilter, "schedule_kind", "owner")
    search_fields = ("name", "owner__username")
    search_help_text = "Search by job name or owner username."
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
            '<span title="{}">{}</span><br><small class="quiet">{}</small>',
            when.isoformat(),
            relative(when),
            in_zone(when, job.timezone),
        )

    @admin.display(description="Last status", ordering="last_status")
    def last_status_badge(self, job: Job) -> str:
        return status_badge(job.last_status)

    @admin.display(description="Last 20 runs")
    def history(self, job: Job) -> str:
        outcomes = list(reversed((job.recent_outcomes or [])[: Job.RECENT_OUTCOMES]))  # oldest first
        if not outcomes:
            return format_html('<span class="quiet">{}</span>', "no runs yet")
        base = _change_url(JobRun, _PLACEHOLDER_ID)  # one reverse() per row, not per square
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
            fieldsets.append(
                (
                    "State",
                    {
                        "fields": (
                            ("last_status_badge", "last_run_display"),
                            "next_run_detail",
                            ("consecutive_failures", "paused_reason"),
                            ("created_display", "updated_display"),
                        )
                    },
                )
            )
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Job | None = None) -> Any:
        fields = ["schedule_preview"]
        if obj is not None:
            fields += [
                "owner_link",
                "last_status_badge",
                "last_run_display",
                "next_run_detail",
                "consecutive_failures",
                "paused_reason",
                "created_display",
                "updated_display",
            ]
        return fields

    @admin.display(description="Owner")
    def owner_link(self, job: Job) -> str:
        return format_html('<a href="{}">{}</a>', _change_url(type(job.owner), job.owner_id), job.owner)

    @admin.display(description="Next fire times")
    def schedule_preview(self, job: Job | None) -> str:
        """Server-rendered for the saved schedule; job_form.js refreshes it as the operator types."""
        url = reverse("admin:jobs_job_preview")
        if job is None or job._state.adding:
            body = format_html('<p class="quiet">{}</p>', "Enter a schedule to see its next fire times.")
        else:
            body = render_preview({"ok": True, "human": schedules.describe(job.schedule), **_fires(job)})
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
            links = format_html_join(", ", '<a href="{}">{}</a>', ((_change_url(Job, c.pk), c.name) for c in copies))
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
        return HttpResponseRedirect(_change_url(Job, job.pk))

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
    if moment is None:
        return "—"
    return format_html('{} <span class="quiet">({})</span>', in_zone(moment, zone), relative(moment))


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
    run_url = _change_url(JobRun, _PLACEHOLDER_ID)
    return {
        "recent_runs": [
            {
                "url": run_url.replace(_PLACEHOLDER_ID, str(run.pk)),
                "id": str(run.pk)[:8],
                "badge": status_badge(run.status),
                "trigger": run.get_trigger_display(),
                "attempt": run.attempt,
                "scheduled": in_zone(run.scheduled_for, job.timezone),
                "started": in_zone(run.started_at, job.timezone),
                "lateness": lateness(run),
                "duration": duration(run),
                "error": excerpt(run.error or run.reason),
            }
            for run in runs
        ],
        "all_runs_url": reverse("admin:jobs_jobrun_changelist") + f"?job__id__exact={job.pk}",
        "audit_trail": [
            {
                "at": in_zone(event.created_at, job.timezone),
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


# --- runs and events: read-only -------------------------------------------------------


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


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
        return format_html('<a href="{}">{}</a>', _change_url(Job, run.job_id), run.job.name)

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
        if value and _is_uuid(value):
            return queryset.filter(job_ref=value)
        return queryset


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@admin.register(JobEvent)
class JobEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "job_link", "actor_name", "kind", "summary")
    list_filter = ("kind", JobRefFilter, ("created_at", admin.DateFieldListFilter))
    search_fields = ("job_name", "actor_name")
    search_help_text = "Search by job name or actor."
    fields = ("created_at", "job_link", "actor_name", "kind", "summary", "changes")
    readonly_fields = ("job_link", "summary")

    @admin.display(description="Job", ordering="job_name")
    def job_link(self, event: JobEvent) -> str:
        if event.job_id is None:
            return format_html('{} <span class="quiet">{}</span>', event.job_name, "(deleted)")
        return format_html('<a href="{}">{}</a>', _change_url(Job, event.job_id), event.job_name)

    @admin.display(description="Details")
    def summary(self, event: JobEvent) -> str:
        return event_summary(event)


# --- django-celery-beat: job-owned rows are read-only ------------------------------------

JOB_TASK_PREFIX = "job:"


def job_id_of_task(task: PeriodicTask | None) -> uuid.UUID | None:
    """The job a PeriodicTask mirrors (beat_sync names them `job:<uuid>`), or None."""
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
        return format_html('<a href="{}">{}</a>', _change_url(Job, job_id), "open job")

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
