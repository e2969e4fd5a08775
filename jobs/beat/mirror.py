"""Mirror jobs into django-celery-beat's models, so its admin and tooling show them truthfully.

Each job is one `PeriodicTask` named `job:<uuid>` calling `jobs.run_job`:
a cron job gets a `CrontabSchedule` carrying the job's time zone, an interval
job an `IntervalSchedule` (its anchor as `start_time`), a one-off job a
`ClockedSchedule` (`one_off`). `enabled` follows the job. The services call
`sync_job` after every write and `remove_job` on delete.

These rows are a mirror, not the clock: `jobs.beat.scheduler.JobScheduler` times
jobs from `jobs.schedules` and `Job.next_run_at` and never fires `job:` rows
(see docs/design.md, "Execution: who is authoritative").

Schedule rows are shared: an identical schedule is reused (the oldest row),
and a schedule row a job stops using is deleted once nothing refers to it.

The change marker (`PeriodicTasks.last_update`) tells a running beat to
reload the entries it fires. No scheduler fires `job:` rows (the project's
scheduler leaves them out of its entries), so writing one does not move the
marker: with the marker moved on every job edit, beat reloaded all its
stock entries for each edit, and each API create paid two extra
transactions. `sync_all` still moves it once per batch it changed (cheap,
and what stock tooling expects after a repair); deleting a schedule row
moves it too (django-celery-beat's own signal, for rows a stock task could
have shared); creating one does not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from typing import Any
from zoneinfo import ZoneInfo

from django.db import models, transaction
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    PeriodicTasks,
)

from jobs import schedules
from jobs.models import Job, ScheduleKind

logger = logging.getLogger(__name__)

ENTRY_PREFIX = "job:"
TASK_NAME = "jobs.run_job"
SCHEDULE_FIELDS = ("interval", "crontab", "solar", "clocked")
_CRON_FIELDS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def entry_name(job_id: Any) -> str:
    return f"{ENTRY_PREFIX}{job_id}"


def _first_or_create(model: type[models.Model], **fields: Any) -> Any:
    # Oldest first, so concurrent creators converge on one row (and
    # `dedupe_schedules` folds the others into it).
    existing = model.objects.filter(**fields).order_by("pk").first()
    if existing is not None:
        return existing
    # bulk_create: without the post_save signal that moves the change marker
    # (a new schedule row changes no entry any scheduler has loaded).
    return model.objects.bulk_create([model(**fields)])[0]


class _RowCache(dict[tuple[Any, ...], Any]):
    """Schedule rows already looked up in one `sync_all` pass (most jobs share a few rows)."""

    def get_row(self, model: type[models.Model], **fields: Any) -> Any:
        key = (model, *sorted((name, str(value)) for name, value in fields.items()))
        if key not in self:
            self[key] = _first_or_create(model, **fields)
        return self[key]

    def forget(self, row: Any) -> None:
        for key in [key for key, value in self.items() if type(value) is type(row) and value.pk == row.pk]:
            del self[key]


def _mirrored_zone(name: str) -> str:
    # django-celery-beat validates the zone; a job stored with a zone tzdata no longer has must
    # still be pausable and deletable (its mirror row is only informative: beat reads jobs).
    try:
        ZoneInfo(name)
    except (KeyError, ValueError):
        return "UTC"
    return name


def _schedule_match(job: Job) -> tuple[str, type[models.Model], dict[str, Any]]:
    """The schedule row the job's mirror points at: its field on PeriodicTask, its model, its values."""
    if job.schedule_kind == ScheduleKind.CRON:
        values = dict(zip(_CRON_FIELDS, job.cron.split(" "), strict=True))
        return "crontab", CrontabSchedule, {"timezone": _mirrored_zone(job.timezone), **values}
    if job.schedule_kind == ScheduleKind.INTERVAL:
        # The units are django-celery-beat's period names (seconds ... days).
        return "interval", IntervalSchedule, {"every": job.interval_every, "period": job.interval_unit}
    return "clocked", ClockedSchedule, {"clocked_time": job.once_at}


def _schedule_row(job: Job, cache: _RowCache | None = None) -> tuple[str, Any]:
    lookup = cache.get_row if cache is not None else _first_or_create
    field, model, values = _schedule_match(job)
    return field, lookup(model, **values)


def _apply(task: PeriodicTask, job: Job, cache: _RowCache | None = None) -> list[Any]:
    """Set the mirror fields on `task`; returns the schedule rows it stopped using."""
    field, row = _schedule_row(job, cache)
    dropped = []
    for name in SCHEDULE_FIELDS:
        current = getattr(task, name, None) if getattr(task, f"{name}_id", None) else None
        wanted = row if name == field else None
        if current is not None and (wanted is None or current.pk != wanted.pk):
            dropped.append(current)
        setattr(task, name, wanted)
    _apply_entry(task, job)
    return dropped


def _apply_entry(task: PeriodicTask, job: Job) -> None:
    """The mirror fields besides the schedule row."""
    task.task = TASK_NAME
    task.args = "[]"
    task.kwargs = json.dumps({"job_id": str(job.pk)})
    task.enabled = bool(job.enabled)
    task.one_off = job.schedule_kind == ScheduleKind.ONCE
    task.start_time = job.interval_anchor if job.schedule_kind == ScheduleKind.INTERVAL else None
    task.description = (
        f"Mirror of job {job.name!r} ({schedules.describe(job.schedule)}); "
        "timed by the project's scheduler from jobs.schedules, see the job's runs for its history."
    )[:2000]


def sync_job(job: Job, *, created: bool = False) -> PeriodicTask:
    """Create or update the job's mirror row; `created`: the job is new, so is its row.

    The row is written without moving the change marker (see the module
    docstring) and without `PeriodicTask.save()`'s uniqueness query: the
    name is unique by construction and by the table's constraint.
    """
    name = entry_name(job.pk)
    task = None
    if not created:
        task = PeriodicTask.objects.filter(name=name).select_related(*SCHEDULE_FIELDS).first()
    if task is None:
        task = PeriodicTask(name=name)
    dropped = _apply(task, job)
    task.no_changes = True
    # Model.save, not PeriodicTask.save: the latter queries for name
    # uniqueness and then moves the change marker.
    models.Model.save(task, force_insert=task.pk is None)
    _delete_if_unused(dropped)
    return task


def new_entry(job: Job) -> tuple[PeriodicTask, str, dict[str, Any]]:
    """A new job's mirror row, unsaved and without its schedule row; the field and values of that row.

    For a caller that inserts the row pointing at the matching schedule row
    in one statement (jobs.services on PostgreSQL): no model signals then,
    and PeriodicTask's only one moves the change marker, which a mirror
    write must not move.
    """
    task = PeriodicTask(name=entry_name(job.pk))
    _apply_entry(task, job)
    field, _, values = _schedule_match(job)
    return task, field, values


def remove_job(job: Job) -> None:
    task = PeriodicTask.objects.filter(name=entry_name(job.pk)).select_related(*SCHEDULE_FIELDS).first()
    if task is None:
        return
    rows = [getattr(task, name) for name in SCHEDULE_FIELDS if getattr(task, f"{name}_id", None)]
    task.no_changes = True
    task.delete()
    _delete_if_unused(rows)


def _delete_if_unused(rows: list[Any], cache: _RowCache | None = None) -> None:
    for row in rows:
        if not PeriodicTask.objects.filter(**{_field_for(row): row}).exists():
            if cache is not None:
                cache.forget(row)
            row.delete()


def _field_for(row: Any) -> str:
    return {
        CrontabSchedule: "crontab",
        IntervalSchedule: "interval",
        ClockedSchedule: "clocked",
    }.get(type(row), "solar")


#: Jobs compared per query in `sync_all` (their mirror rows are read together).
SYNC_CHUNK = 2_000


def sync_all(*, pace: float = 0.0) -> dict[str, int]:
    """Bring every mirror row in line with the jobs (beat start): one change marker for the batch.

    Reads the mirror rows a chunk of jobs at a time, with their schedule rows,
    and looks each distinct schedule row up once, so that a check that
    changes nothing costs a few queries per thousand jobs (with 100,000
    jobs, per-row queries kept beat from firing anything for minutes).
    `pace`: after each chunk, sleep that many times as long as the chunk
    took (a background check leaves the process to more urgent work).
    """
    counts = {"synced": 0, "removed": 0, "merged": 0}
    job_ids = set()
    cache = _RowCache()
    chunk: list[Job] = []
    started = time.monotonic()
    for job in Job.objects.order_by("pk").iterator(chunk_size=SYNC_CHUNK):
        job_ids.add(entry_name(job.pk))
        chunk.append(job)
        if len(chunk) >= SYNC_CHUNK:
            _sync_chunk(chunk, cache, counts)
            chunk = []
            if pace > 0:
                time.sleep(pace * (time.monotonic() - started))
                started = time.monotonic()
    _sync_chunk(chunk, cache, counts)
    counts["removed"] = _remove_orphans(job_ids)
    counts["merged"] = dedupe_schedules()
    if any(counts.values()):
        PeriodicTasks.update_changed()
        logger.info("beat mirror re-synced: %s", counts, extra=counts)
    return counts


def _sync_chunk(jobs: list[Job], cache: _RowCache, counts: dict[str, int]) -> None:
    names = [entry_name(job.pk) for job in jobs]
    tasks = {task.name: task for task in PeriodicTask.objects.filter(name__in=names).select_related(*SCHEDULE_FIELDS)}
    for job, name in zip(jobs, names, strict=True):
        task = tasks.get(name) or PeriodicTask(name=name)
        before = _snapshot(task)
        _apply(task, job, cache)  # in memory: is the row out of date?
        if task.pk is not None and _snapshot(task) == before:
            continue
        # The check runs beside the services (in the background, while the API
        # edits jobs): what was read above may already be old. Read the job and
        # its row again under the job's row lock, which a service write holds
        # through its own mirror write, so a newer mirror is never overwritten
        # with an older job (on MongoDB, where locks are no-ops, the next write
        # of that job repairs its row).
        with transaction.atomic():
            fresh = Job.objects.select_for_update().filter(pk=job.pk).first()
            if fresh is not None and _sync_one(fresh, cache):
                counts["synced"] += 1


def _sync_one(job: Job, cache: _RowCache) -> bool:
    """Write the job's mirror row if it differs from the job; returns whether it did."""
    name = entry_name(job.pk)
    task = PeriodicTask.objects.filter(name=name).select_related(*SCHEDULE_FIELDS).first() or PeriodicTask(name=name)
    before = _snapshot(task)
    dropped = _apply(task, job, cache)
    if task.pk is not None and _snapshot(task) == before:
        return False
    task.no_changes = True  # one update_changed() for the whole check instead of one per row
    task.save()
    _delete_if_unused(dropped, cache)
    return True


def _remove_orphans(job_ids: set[str]) -> int:
    """Delete `job:` rows whose job is gone; `job_ids`: the entry names of the jobs the check read."""
    candidates = set(PeriodicTask.objects.filter(name__startswith=ENTRY_PREFIX).values_list("name", flat=True))
    candidates -= job_ids
    if not candidates:
        return 0
    # Jobs created since the check read the jobs are not orphans.
    ids = []
    for name in candidates:
        with contextlib.suppress(ValueError):  # a malformed name is an orphan
            ids.append(uuid.UUID(name[len(ENTRY_PREFIX) :]))
    candidates -= {entry_name(pk) for pk in Job.objects.filter(pk__in=ids).values_list("pk", flat=True)}
    removed = 0
    for task in PeriodicTask.objects.filter(name__in=candidates):
        task.no_changes = True
        task.delete()
        removed += 1
    return removed


def _snapshot(task: PeriodicTask) -> tuple[Any, ...]:
    return (
        task.task,
        task.args,
        task.kwargs,
        task.enabled,
        task.one_off,
        task.start_time,
        task.description,
        *(getattr(task, f"{name}_id", None) for name in SCHEDULE_FIELDS),
    )


def dedupe_schedules() -> int:
    """Fold identical schedule rows into the oldest one; returns how many rows were removed.

    Tasks are re-pointed first (deleting a schedule row would cascade to its
    tasks); the caller marks the change once for the whole batch.
    """
    removed = 0
    keys = {
        CrontabSchedule: ("crontab", (*_CRON_FIELDS, "timezone")),
        IntervalSchedule: ("interval", ("every", "period")),
        ClockedSchedule: ("clocked", ("clocked_time",)),
    }
    for model, (field, key_fields) in keys.items():
        groups: dict[tuple[Any, ...], list[Any]] = {}
        for row in model.objects.order_by("pk"):
            groups.setdefault(tuple(str(getattr(row, name)) for name in key_fields), []).append(row)
        for rows in groups.values():
            keep, extra = rows[0], rows[1:]
            if not extra:
                continue
            PeriodicTask.objects.filter(**{f"{field}__in": extra}).update(**{field: keep})
            for row in extra:
                row.delete()
                removed += 1
    return removed
