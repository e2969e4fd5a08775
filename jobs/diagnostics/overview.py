"""What the admin's overview page shows: counts, a 24-hour chart and the next fires.

Reads only. A handful of aggregate queries whatever the number of jobs and
runs (grouping happens in the database; TruncHour and filtered Count are
supported by every backend this project runs on, MongoDB included). The chart
is laid out here as plain numbers so the template can draw it as inline SVG:
nothing is fetched from the internet.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count, Q
from django.db.models.functions import TruncHour

from jobs import schedules
from jobs.beat import lease, partitions
from jobs.diagnostics.display import format_local, relative
from jobs.models import FAILED_STATUSES, Job, JobRun, RunStatus, RunTrigger

HOURS = 24
UPCOMING = 10

# Chart series, bottom to top: (key, label, statuses, colour).
SERIES: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("succeeded", "Succeeded", (RunStatus.SUCCEEDED,), "#2e9e4f"),
    ("failed", "Failed / timed out", (RunStatus.FAILED, RunStatus.TIMED_OUT), "#d64545"),
    ("missed", "Missed", (RunStatus.MISSED,), "#e6a23c"),
    ("skipped", "Skipped", (RunStatus.SKIPPED,), "#9aa0a6"),
    ("active", "Queued / running", (RunStatus.QUEUED, RunStatus.RUNNING), "#3d7fd6"),
)
_SERIES_OF = {status: key for key, _, statuses, _ in SERIES for status in statuses}

# Chart geometry (SVG user units).
WIDTH, HEIGHT = 760, 240
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 30


@dataclass
class Segment:
    key: str
    colour: str
    y: float
    height: float


@dataclass
class Bar:
    start: datetime
    x: float
    width: float
    total: int
    counts: dict[str, int]
    segments: list[Segment] = field(default_factory=list)
    label: str = ""

    @property
    def centre(self) -> float:
        return round(self.x + self.width / 2, 1)

    @property
    def title(self) -> str:
        end = self.start + timedelta(hours=1)
        parts = [f"{self.counts[key]} {label.lower()}" for key, label, _, _ in SERIES if self.counts[key]]
        return f"{self.start:%H:%M}-{end:%H:%M} UTC: " + (", ".join(parts) if parts else "no runs")


def job_counts() -> dict[str, int]:
    # Aliases must not shadow field names ("enabled"), hence the prefix.
    counts = Job.objects.aggregate(
        n_total=Count("id"),
        n_enabled=Count("id", filter=Q(enabled=True)),
        n_paused=Count("id", filter=Q(enabled=False)),
        n_failing=Count("id", filter=Q(last_status__in=FAILED_STATUSES)),
    )
    return {key.removeprefix("n_"): value or 0 for key, value in counts.items()}


def grid_step(peak: int) -> int:
    """A round step for 4 gridlines that cover `peak`: 1-9, then 10, 20, 25, 30, 40, 50, 60, 80, 100, ..."""
    target = max(1, math.ceil(peak / 4))
    if target < 10:
        return target
    power = 10 ** math.floor(math.log10(target))
    return next(int(m * power) for m in (1, 2, 2.5, 3, 4, 5, 6, 8, 10) if m * power >= target)


def runs_chart(*, now: datetime) -> dict[str, Any]:
    """Runs per hour (by slot time) for the last 24 hours, stacked by outcome."""
    current = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    start = current - timedelta(hours=HOURS - 1)
    rows = (
        JobRun.objects.filter(scheduled_for__gte=start)
        .annotate(hour=TruncHour("scheduled_for", tzinfo=UTC))
        .values("hour", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    buckets: dict[datetime, dict[str, int]] = {
        start + timedelta(hours=i): {key: 0 for key, *_ in SERIES} for i in range(HOURS)
    }
    by_status: dict[str, int] = {status: 0 for status in RunStatus.values}
    for row in rows:
        hour = row["hour"].astimezone(UTC)
        by_status[row["status"]] = by_status.get(row["status"], 0) + row["n"]
        if hour in buckets:
            buckets[hour][_SERIES_OF.get(row["status"], "active")] += row["n"]

    peak = max((sum(counts.values()) for counts in buckets.values()), default=0)
    step = grid_step(peak)
    top = 4 * step
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / HOURS
    bars: list[Bar] = []
    for i, (hour, counts) in enumerate(sorted(buckets.items())):
        bar = Bar(
            start=hour,
            x=round(LEFT + i * slot + 2, 1),
            width=round(slot - 4, 1),
            total=sum(counts.values()),
            counts=counts,
        )
        base = TOP + plot_h
        for key, _, _, colour in SERIES:
            if counts[key]:
                height = counts[key] / top * plot_h
                base -= height
                bar.segments.append(Segment(key=key, colour=colour, y=round(base, 1), height=round(height, 1)))
        if i % 3 == 0 or i == HOURS - 1:
            bar.label = f"{hour:%H:%M}"
        bars.append(bar)
    # Gridlines at 0, 1, 2, 3 and 4 steps: the top one is at or above the busiest hour.
    grid = [{"y": round(TOP + plot_h - plot_h * k / 4, 1), "value": step * k} for k in range(5)]
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "left": LEFT,
        "axis_x": LEFT - 6,
        "right": WIDTH - RIGHT,
        "top": TOP,
        "plot_height": plot_h,
        "baseline": TOP + plot_h,
        "label_y": TOP + plot_h + 18,
        "bars": bars,
        "grid": grid,
        "legend": [{"key": key, "label": label, "colour": colour} for key, label, _, colour in SERIES],
        "since": start,
        "total": sum(by_status.values()),
        "by_status": [
            {"status": status, "label": label, "count": by_status.get(status, 0)} for status, label in RunStatus.choices
        ],
    }


def upcoming_fires(*, now: datetime, limit: int = UPCOMING) -> list[dict[str, Any]]:
    """The next `limit` fire times across all enabled jobs.

    Only the `limit` jobs due soonest can contribute: every other job's first
    fire comes after theirs, by which time they have fired `limit` times.
    """
    jobs = Job.objects.filter(enabled=True, next_run_at__isnull=False).select_related("owner").order_by("next_run_at")
    candidates = {job.pk: job for job in jobs[:limit]}
    # A slot beat claimed ahead (JOBS_BEAT_LOOKAHEAD_SECONDS) is still to come, but its job's
    # next_run_at has moved past it: those jobs may be due soonest too.
    claimed = (
        JobRun.objects.filter(trigger=RunTrigger.SCHEDULE, status=RunStatus.QUEUED, scheduled_for__gt=now)
        .order_by("scheduled_for")
        .values_list("job_id", flat=True)[:limit]
    )
    missing = set(claimed) - set(candidates)
    if missing:
        candidates.update((job.pk, job) for job in jobs.filter(pk__in=missing))
    fires: list[tuple[datetime, Job, datetime]] = []
    for job in candidates.values():
        try:
            times = schedules.next_fire_times(job.schedule, after=now, count=limit)
        except (ValueError, KeyError):  # a stored schedule the module can no longer read
            continue
        fires.extend((fire.astimezone(UTC), job, fire) for fire in times)
    fires.sort(key=lambda item: item[0])
    return [
        {
            "at_utc": utc,
            "at_local": format_local(local),
            "relative": relative(utc, now),
            "job": job,
            "show_utc": job.timezone != "UTC",
        }
        for utc, job, local in fires[:limit]
    ]


def recent_failures(*, limit: int = 8) -> list[JobRun]:
    return list(
        JobRun.objects.filter(status__in=FAILED_STATUSES).select_related("job").order_by("-scheduled_for")[:limit]
    )


def active_beat(*, now: datetime) -> dict[str, Any] | None:
    """Which beat is in charge (jobs.beat.lease), and how long ago it last renewed its lease.

    With several partitions (jobs.beat.partitions): the same for each
    partition under `partitions`, healthy when every one is.
    """
    if settings.JOBS_BEAT_PARTITIONS > 1:
        shares = [
            {"partition": share.partition, **(_lease_view(share.lease, now=now) or {"holder": "", "healthy": False})}
            for share in partitions.current_states()
        ]
        return {
            "partitions": shares,
            "holders": sorted({share["holder"] for share in shares if share["holder"]}),
            "healthy": all(share["healthy"] for share in shares),
        }
    return _lease_view(lease.current_state(), now=now)


def _lease_view(state: lease.LeaseState | None, *, now: datetime) -> dict[str, Any] | None:
    if state is None:
        return None
    ago = (now - state.renewed_at).total_seconds() if state.renewed_at else None
    return {
        "holder": state.holder,
        "generation": state.generation,
        "since": state.acquired_at,
        "renewed_seconds_ago": ago,
        # A lease renewed within three lease periods (by this server's clock): a beat is working.
        "healthy": bool(state.holder) and ago is not None and ago < 3 * settings.JOBS_BEAT_LEASE_SECONDS,
    }


def build(*, now: datetime) -> dict[str, Any]:
    return {
        "counts": job_counts(),
        "beat": active_beat(now=now),
        "chart": runs_chart(now=now),
        "upcoming": upcoming_fires(now=now),
        "failures": recent_failures(),
        "now": now,
    }
