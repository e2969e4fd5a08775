"""Every write on a run: claim keys, claims, withdrawals, state changes, pruning.

A run exists only once its claim is inserted: scheduled, retry and catch-up
runs are unique per (job, slot, trigger, attempt), so a second beat, a
redelivered message or a duplicated publish loses the insert and records
nothing. Manual runs carry their own id in the key and never collide. A run's
state changes are conditional single-row updates (`queued → running` only if
still queued, `→ finished` only if still in the state expected), so a
duplicate delivery, the reaper and a late worker can race without double
effects. Neither rule needs a transaction or a row lock (MongoDB has neither
on a standalone server).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from jobs.execution import store
from jobs.models import ACTIVE_STATUSES, JobRun, RunStatus, RunTrigger

#: The reason recorded on a slot that passed while no scheduler was running.
MISSED_REASON = "scheduler not running"


def claim_key(
    job_id: Any, slot: datetime, trigger: str = RunTrigger.SCHEDULE, attempt: int = 1, *, run_id: Any = None
) -> str:
    """A run's claim: `<job>|<slot, ms UTC>|<trigger>|<attempt>`; a manual run's is `<job>|manual|<run id>`.

    Milliseconds, in UTC: MongoDB keeps no more, so the key written at the
    claim and the key rebuilt by a worker from the slot it received agree
    on every backend. Manual runs are never refused: their key is their id.
    """
    if trigger == RunTrigger.MANUAL:
        return f"{job_id}|manual|{run_id}"
    moment = slot.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return f"{job_id}|{moment}|{trigger}|{attempt}"


def new_run(
    job: Any,
    slot: datetime,
    *,
    trigger: str = RunTrigger.SCHEDULE,
    attempt: int = 1,
    status: str = RunStatus.QUEUED,
    reason: str = "",
    now: datetime | None = None,
) -> JobRun:
    """A run of `job` for `slot`, with its claim key, not yet claimed (see `claim`).

    A run created in a final state (missed, skipped) is finished at `now`.
    """
    run = JobRun(job=job, scheduled_for=slot, trigger=trigger, attempt=attempt, status=status, reason=reason[:200])
    if status not in ACTIVE_STATUSES:
        run.finished_at = now or timezone.now()
    run.claim_key = claim_key(job.pk, slot, trigger, attempt, run_id=run.id)
    return run


def missed_reason(note: str = "") -> str:
    """A `missed` run's reason; `note` says that later missed slots were not recorded."""
    return f"{MISSED_REASON}; {note}"[:200] if note else MISSED_REASON


# --- claims -------------------------------------------------------------------------------------


def claim(runs: Sequence[JobRun]) -> set[Any]:
    """Insert the runs in one batch; returns the ids of those whose claim was free (now ours)."""
    return store.current().claim(runs)


def claim_one(run: JobRun) -> bool:
    """`claim` for a single run: whether it is ours."""
    return run.id in claim([run])


def discard(run_ids: Iterable[Any]) -> None:
    """Delete runs claimed by mistake (a batch that lost its job's first slot to another beat)."""
    ids = list(run_ids)
    if ids:
        JobRun.objects.filter(pk__in=ids).delete()


def withdraw(run_ids: Iterable[Any]) -> int:
    """Delete these runs if still queued (claims made ahead of an edit or pause that came first); returns how many."""
    ids = list(run_ids)
    if not ids:
        return 0
    deleted, _ = JobRun.objects.filter(pk__in=ids, status=RunStatus.QUEUED).delete()
    return deleted


def withdraw_ahead(job_ids: Iterable[Any], *, now: datetime | None = None) -> int:
    """Delete the jobs' runs claimed ahead of a slot still to come; returns how many.

    Beat claims slots up to JOBS_BEAT_LOOKAHEAD_SECONDS early. An edit of the
    schedule, a pause or a delete before such a slot comes first, exactly as
    if the slot had not been claimed yet: the claim is removed (and its key
    freed, so the new schedule can claim the same instant). The message
    already published finds no run, or the new claim, and starts it at most
    once.
    """
    ids = list(job_ids)
    if not ids:
        return 0
    deleted, _ = JobRun.objects.filter(
        job_id__in=ids, trigger=RunTrigger.SCHEDULE, status=RunStatus.QUEUED, scheduled_for__gt=now or timezone.now()
    ).delete()
    return deleted


# --- finding claimed runs -------------------------------------------------------------------------


def slot_run(job_id: Any, slot: datetime) -> JobRun | None:
    """The claimed scheduled run of `job_id` for `slot`, with its job; None if there is none."""
    key = claim_key(job_id, slot)
    return JobRun.objects.select_related("job").filter(job_id=job_id, claim_key=key).first()


def claimed_at(slots: Iterable[tuple[Any, datetime]]) -> dict[Any, datetime]:
    """When each (job, slot) was claimed, by job id; jobs whose slot is not claimed are left out."""
    keys = {claim_key(job_id, slot): job_id for job_id, slot in slots}
    if not keys:
        return {}
    rows = JobRun.objects.filter(job_id__in=set(keys.values()), claim_key__in=list(keys)).order_by()
    return {keys[key]: created for key, created in rows.values_list("claim_key", "created_at")}


# --- state changes ----------------------------------------------------------------------------------


def start(run: JobRun, *, worker: str, now: datetime) -> bool:
    """queued → running, only if still queued (a duplicate delivery loses here)."""
    worker = worker[:200]
    # The job too: once runs are sharded by job, a write naming it goes to one shard.
    updated = JobRun.objects.filter(pk=run.pk, job_id=run.job_id, status=RunStatus.QUEUED).update(
        status=RunStatus.RUNNING, started_at=now, worker=worker
    )
    if updated != 1:
        return False
    run.status, run.started_at, run.worker = RunStatus.RUNNING, now, worker
    return True


def end(run: JobRun, *, expected: str, now: datetime, **fields: Any) -> bool:
    """`expected` → a final state with `fields` (status, result, ...), only if still `expected`.

    Only one of the worker, the hard-timeout handler and the reaper ends a
    run: whoever comes second matches nothing.
    """
    fields = {**fields, "finished_at": now}
    if JobRun.objects.filter(pk=run.pk, job_id=run.job_id, status=expected).update(**fields) != 1:
        return False
    for name, value in fields.items():
        setattr(run, name, value)
    return True


def prune(*, days: int | None = None, now: datetime | None = None) -> int:
    """Delete finished runs older than the retention (`days`, default RUNS_RETENTION_DAYS); returns how many.

    Queued and running runs are kept whatever their age; events are kept longer.
    """
    before = (now or timezone.now()) - timedelta(days=days or settings.RUNS_RETENTION_DAYS)
    deleted, _ = JobRun.objects.filter(scheduled_for__lt=before).exclude(status__in=ACTIVE_STATUSES).delete()
    return deleted
