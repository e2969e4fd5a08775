"""What more than one admin page uses: small renderers and the read-only base for runs and events."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from jobs.diagnostics.display import format_local
from jobs.models import EventKind, JobEvent, JobRun, PauseReason, RunTrigger

ERROR_EXCERPT = 140


def status_badge(status: str) -> str:
    if not status:
        return format_html('<span class="job-badge job-badge--none">{}</span>', "never run")
    return format_html('<span class="job-badge job-badge--{}">{}</span>', status, status.replace("_", " "))


def in_zone(moment: datetime | None, zone: str) -> str:
    if moment is None:
        return "—"
    try:
        tz = ZoneInfo(zone)
    except (KeyError, ValueError):  # a zone tzdata no longer has: show UTC and say so
        return f"{format_local(moment.astimezone(UTC))} (UTC; unknown zone {zone})"
    return format_local(moment.astimezone(tz))


# One timestamp format on every page (`Mon 2025-06-02 09:00 CEST`), with the UTC time on hover:
# - `slot_time`: when a schedule says something happens (a slot, a next run), in the job's own zone,
#   where the schedule is defined;
# - `event_time`: when something happened (a run started, an edit), in the viewer's zone: the page
#   shows it in `zone` (the job's, or UTC) and jobs/static/jobs/live.js rewrites it in the browser's zone.


def slot_time(moment: datetime | None, zone: str) -> str:
    return _time(moment, zone, viewer=False)


def event_time(moment: datetime | None, zone: str = "UTC") -> str:
    return _time(moment, zone, viewer=True)


def _time(moment: datetime | None, zone: str, *, viewer: bool) -> str:
    if moment is None:
        return "—"
    utc = moment.astimezone(UTC)
    template = (
        '<time datetime="{}" title="{}" data-viewer-zone>{}</time>'
        if viewer
        else '<time datetime="{}" title="{}">{}</time>'
    )
    return format_html(template, utc.isoformat(), format_local(utc), in_zone(moment, zone))


def lateness(run: JobRun) -> str:
    """How late a run started against its slot. A retry waits for its backoff by design and a manual
    run has no slot (its time is the request's), so their delay is not lateness."""
    seconds = run.lateness_seconds
    if seconds is None:
        return "—"
    if run.trigger in (RunTrigger.RETRY, RunTrigger.MANUAL):
        since = "the request" if run.trigger == RunTrigger.MANUAL else "its slot"
        return format_html('<span title="{}">—</span>', f"{run.trigger}: started {seconds:.1f} s after {since}")
    return f"{seconds:+.1f} s" if abs(seconds) < 120 else f"{seconds / 60:+.1f} min"


def duration(run: JobRun) -> str:
    if run.duration_ms is None:
        return "—"
    return f"{run.duration_ms} ms" if run.duration_ms < 1000 else f"{run.duration_ms / 1000:.1f} s"


def excerpt(text: str, limit: int = ERROR_EXCERPT) -> str:
    text = " ".join((text or "").split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def change_url(model: type, object_id: Any) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_change", args=[object_id])


def event_summary(event: JobEvent) -> str:
    """One line for an audit event: what changed, from what to what (secrets are masked by the service)."""
    changes = event.changes or {}
    if event.kind == EventKind.UPDATED:
        return "; ".join(_change_summary(name, c) for name, c in changes.items())
    if event.kind == EventKind.RUN_REQUESTED and changes.get("run_id"):
        return f"run {str(changes['run_id'])[:8]}"
    if changes.get("reason"):
        return PauseReason(changes["reason"]).label if changes["reason"] in PauseReason.values else changes["reason"]
    return ""


def _change_summary(name: str, change: dict[str, Any]) -> str:
    # Secret headers are masked on both sides, so "a → b" would show two identical masks: the service
    # records which headers were added, removed or changed instead.
    if change.get("summary"):
        return "; ".join(change["summary"])
    return f"{name}: {_short(change.get('old'))} → {_short(change.get('new'))}"


def _short(value: Any) -> str:
    text = "∅" if value in (None, "", [], {}) else str(value)
    return excerpt(text, 60)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
