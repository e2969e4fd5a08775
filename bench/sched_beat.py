"""Bench-only beat schedulers: the project's and the stock one, timed, nothing else changed.

`celery -A scheduler_site beat --scheduler bench.sched_beat:BenchJobScheduler`
(or `BenchStockScheduler`) runs the real beat with one of these. They append
one JSON line per tick to $BENCH_STATS_FILE: the tick's duration, the time
spent firing jobs (`jobs_ms`, project only), how many messages it published,
and the duration of any full schedule reload (`all_as_schedule`, which is how
django-celery-beat absorbs an edit of a PeriodicTask).

Every message also gets a `bench_published_at` header (wall clock, taken just
before the broker publish), so the recorder can measure lateness from the
publish rather than from its own receipt.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

from celery.signals import before_task_publish
from django_celery_beat.schedulers import DatabaseScheduler

from jobs.beat.scheduler import JobScheduler

_published = 0


@before_task_publish.connect
def _stamp(headers: dict[str, Any] | None = None, **_: Any) -> None:
    global _published
    _published += 1
    if headers is not None:
        headers["bench_published_at"] = time.time()


class _Timed:
    _stats_file: Any = None
    _stats_flushed = 0.0
    _reload_ms: float | None = None

    def _stats(self, **fields: Any) -> None:
        if self._stats_file is None:
            self._stats_file = open(os.environ.get("BENCH_STATS_FILE", os.devnull), "a")  # noqa: SIM115
        self._stats_file.write(json.dumps(fields) + "\n")
        if fields["t"] - self._stats_flushed > 1:
            self._stats_flushed = fields["t"]
            self._stats_file.flush()

    def all_as_schedule(self) -> Any:
        started = time.perf_counter()
        schedule = super().all_as_schedule()  # type: ignore[misc]
        self._reload_ms = (time.perf_counter() - started) * 1000
        return schedule

    def tick(self, *args: Any, **kwargs: Any) -> float:
        self._reload_ms = None
        sent = _published
        self._jobs_ms: float | None = None
        started = time.perf_counter()
        wait = super().tick(*args, **kwargs)  # type: ignore[misc]
        self._stats(
            t=time.time(),
            ms=round((time.perf_counter() - started) * 1000, 3),
            jobs_ms=self._jobs_ms,
            sent=_published - sent,
            reload_ms=None if self._reload_ms is None else round(self._reload_ms, 3),
            reload_races=getattr(self, "reload_races", 0),
            entries=len(self._schedule or {}),
            wait=wait,
        )
        return wait


class BenchJobScheduler(_Timed, JobScheduler):
    def tick_jobs(self) -> float:
        started = time.perf_counter()
        wait = super().tick_jobs()
        self._jobs_ms = round((time.perf_counter() - started) * 1000, 3)
        return wait


class BenchStockScheduler(_Timed, DatabaseScheduler):
    #: Reloads that hit a PeriodicTask whose schedule row was deleted between
    #: the task query and its prefetch (see `all_as_schedule`).
    reload_races = 0

    def all_as_schedule(self) -> Any:
        # Stock 2.9.0 reads the tasks, then prefetches their schedule rows in a
        # second query. A schedule edit that frees a schedule row in between
        # (the mirror deletes rows nothing uses any more) leaves a task without
        # a schedule, and `ModelEntry` raises AttributeError, which kills beat.
        # The baseline retries the reload instead, and counts it.
        for attempt in range(5):
            try:
                return super().all_as_schedule()
            except AttributeError:
                BenchStockScheduler.reload_races += 1
                if attempt == 4:
                    raise
        raise AssertionError("unreachable")
