"""Seed the scheduler benchmark's jobs (Django must be set up by the caller).

Two paths produce the same rows:

- `services`: `services.job_create` per job, with the service's clock pinned
  to the job's anchor (the API always anchors an interval at its creation
  time, so a random anchor means "created then"), then `next_run_at` moved
  on to the job's next slot after now, as a running beat would have left it.
- `bulk`: the same service functions build every field (`validate_schedule`,
  `_schedule_fields`, `_validate_action`, `_validate_policies`,
  `compute_next_run_at`), and `mirror._apply` builds every mirror row, with
  the shared schedule rows looked up once per distinct schedule; then one
  `bulk_create` per table and one change marker.

`verify` checks the result against what the services would write:
`mirror.sync_all()` must change nothing and every `next_run_at` must be
`compute_next_run_at(job, after=now)`.
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any
from unittest import mock

from bench.sched_mix import Spec

ACTION = {"type": "task", "task": "echo", "kwargs": {"bench": True}}
BATCH = 5_000


def bench_user() -> Any:
    from django.contrib.auth import get_user_model

    user, _ = get_user_model().objects.get_or_create(username="bench", defaults={"is_staff": True})
    return user


def seed(specs: list[Spec], *, mode: str, now: datetime) -> dict[str, Any]:
    started = time.monotonic()
    user = bench_user()
    if mode == "services":
        _seed_services(specs, user=user, now=now)
    else:
        _seed_bulk(specs, user=user, now=now)
    return {"mode": mode, "jobs": len(specs), "seconds": round(time.monotonic() - started, 1)}


def _seed_services(specs: list[Spec], *, user: Any, now: datetime) -> None:
    from jobs import services
    from jobs.models import Job
    from jobs.services import jobs as job_services

    for spec in specs:
        created_at = spec.anchor or now
        # The create's clock (jobs.services.jobs._now) pinned to the job's anchor.
        with mock.patch.object(job_services, "_now", return_value=created_at):
            job = services.job_create(owner=user, actor=user, data=_data(spec))
        upcoming = services.compute_next_run_at(job, after=now)
        if upcoming != job.next_run_at:
            Job.objects.filter(pk=job.pk).update(next_run_at=upcoming)


def _data(spec: Spec) -> dict[str, Any]:
    return {"name": spec.name, "schedule": spec.schedule, "action": ACTION}


def _seed_bulk(specs: list[Spec], *, user: Any, now: datetime) -> None:
    from django_celery_beat.models import PeriodicTask, PeriodicTasks

    from jobs.beat import mirror
    from jobs.models import EventKind, Job, JobEvent
    from jobs.services import jobs as job_services

    action = job_services._validate_action(ACTION, is_staff=True, stored_headers=None)
    policies = job_services._validate_policies(dict(job_services.POLICY_DEFAULTS))
    rows: dict[tuple[Any, ...], Any] = {}
    original = mirror._first_or_create

    def first_or_create(model: Any, **fields: Any) -> Any:
        key = (model, *sorted(fields.items()))
        if key not in rows:
            rows[key] = original(model, **fields)
        return rows[key]

    for start in range(0, len(specs), BATCH):
        jobs, events, tasks = [], [], []
        for spec in specs[start : start + BATCH]:
            created_at = spec.anchor or now
            schedule = job_services.validate_schedule(spec.schedule, now=created_at)
            job = Job(owner=user, name=spec.name, **job_services._schedule_fields(schedule), **action, **policies)
            job.next_run_at = job_services.compute_next_run_at(job, after=now)
            jobs.append(job)
            events.append(
                JobEvent(
                    job=job,
                    job_ref=job.id,
                    job_name=job.name,
                    kind=EventKind.CREATED,
                    actor=user,
                    actor_name=user.get_username(),
                    changes={},
                )
            )
            task = PeriodicTask(name=mirror.entry_name(job.pk))
            with mock.patch.object(mirror, "_first_or_create", first_or_create):
                mirror._apply(task, job)
            tasks.append(task)
        Job.objects.bulk_create(jobs)
        JobEvent.objects.bulk_create(events)
        PeriodicTask.objects.bulk_create(tasks)
    PeriodicTasks.update_changed()


def verify(*, now: datetime) -> dict[str, Any]:
    """Every `next_run_at` is what the services compute. (The mirror rows are
    checked by beat itself: it runs `mirror.sync_all()` when it starts and
    logs "beat mirror re-synced" only if a row differed.)"""
    from jobs import services
    from jobs.models import Job

    wrong = 0
    for job in Job.objects.all().iterator(chunk_size=5_000):
        if job.next_run_at != services.compute_next_run_at(job, after=now):
            wrong += 1
    return {"next_run_at_mismatches": wrong}
