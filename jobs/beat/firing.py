"""Carrying out a batch of plans: claim, advance, publish. The one path for every database.

A batch costs a constant number of round trips, whatever its size: one read
of the jobs with an active run (overlap policy `skip`), one insert of every
claim (`claims.claim`: taken keys are skipped), one batch of conditional
advances (`store.compare_and_set` on `next_run_at`), and the messages,
pipelined. A single due job is a batch of one. The rules:

- The first row of a job (its first missed or due slot, or the slot claimed
  ahead) is the gate: if another beat holds it, this beat records nothing
  for the job (and deletes what it inserted for its later slots). If that
  claim is older than STALE_CLAIM_SECONDS while the job still sits at the
  slot, its owner died between claim and advance: the job moves on.
- Overlap `skip` for due slots is decided here: if a run of the job is
  queued or running (or this batch queues one first), the slot is recorded
  `skipped`. A slot claimed ahead is decided when it starts (`policies.overlaps`).
- The advance moves `next_run_at` only if it still holds the slot read. If
  it does not, an edit, pause or delete landed meanwhile and stands: claims
  made ahead are withdrawn (as if never made), and due runs of a job now
  paused or gone are `skipped`. Or a beat that took the lease over moved the
  job on from these claims (this one was frozen between claim and advance):
  they stand (`_still_runnable`).
- A job with no following slot is finished (paused `finished`) once advanced.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db.models import Q
from django.utils import timezone

from jobs import schedules, services
from jobs.beat.planning import Plan
from jobs.execution import claims, dispatch, lifecycle, policies, store
from jobs.models import ACTIVE_STATUSES, Job, JobRun, OverlapPolicy, PauseReason, RunStatus, RunTrigger

logger = logging.getLogger(__name__)

# A slot whose claim is older than this while next_run_at still holds it was
# claimed by a scheduler that died before advancing the job: move on.
STALE_CLAIM_SECONDS = 30


def fire(plans: Sequence[Plan], *, now: datetime, dead_claims_before: datetime | None = None) -> None:
    """Claim, advance and publish the plans' slots (see the module docstring for the rules).

    `dead_claims_before`: claims made before it are known dead (their beat lost
    the lease), not merely old: the jobs left at them move on at once.
    """
    busy = _busy(plans)
    batch = [(plan, rows) for plan in plans if (rows := _rows(plan, now=now, busy=plan.job.pk in busy))]
    if not batch:
        return
    ours = claims.claim([run for _, rows in batch for run in rows])
    won: list[tuple[Plan, list[JobRun]]] = []
    lost: list[Plan] = []
    stray: list[Any] = []
    not_run: dict[Any, list[JobRun]] = {}
    missed_slots: dict[str, list[Any]] = {}
    for plan, rows in batch:
        if rows[0].id not in ours:
            # Another beat owns these slots: its later rows inserted with the batch are not ours either.
            stray += [run.id for run in rows[1:] if run.id in ours]
            lost.append(plan)
            continue
        rows = [run for run in rows if run.id in ours]
        missed = [run.scheduled_for for run in rows if run.status == RunStatus.MISSED]
        if missed:
            lifecycle.log_missed(plan.job.pk, len(missed))
            missed_slots[str(plan.job.pk)] = [len(missed), missed[0].isoformat(), missed[-1].isoformat()]
        ended = [run for run in rows if run.status in (RunStatus.MISSED, RunStatus.SKIPPED)]
        for run in ended:
            if run.status == RunStatus.SKIPPED:
                lifecycle.log_end(run)
        if ended:
            not_run[plan.job.pk] = ended
        won.append((plan, [run for run in rows if run.status == RunStatus.QUEUED]))
    claims.discard(stray)
    _move_on_from_dead_claims(lost, now=now, dead_before=dead_claims_before)
    lifecycle.record_not_run(not_run, now=now)
    if missed_slots:
        # Alerts off beat's path: one message for the batch, the alerts raised by a worker.
        dispatch.send(dispatch.ALERT_MISSED_TASK, [missed_slots])
    if won:
        _advance_and_publish(won, now=now)


def _busy(plans: Sequence[Plan]) -> set[Any]:
    """The jobs (overlap policy `skip`, with due slots) that have a run queued or running."""
    ids = [plan.job.pk for plan in plans if plan.job.overlap_policy == OverlapPolicy.SKIP and not plan.ahead]
    if not ids:
        return set()
    active = JobRun.objects.filter(job_id__in=ids, status__in=ACTIVE_STATUSES).order_by()
    return set(active.values_list("job_id", flat=True))


def _rows(plan: Plan, *, now: datetime, busy: bool) -> list[JobRun]:
    """The runs a plan claims, in slot order: missed slots, the catch-up run, then the slots to run."""
    job = plan.job
    last = len(plan.missed) - 1
    rows = [
        claims.new_run(
            job, slot, status=RunStatus.MISSED, reason=claims.missed_reason(plan.note if i == last else ""), now=now
        )
        for i, slot in enumerate(plan.missed)
    ]
    skip = job.overlap_policy == OverlapPolicy.SKIP and not plan.ahead
    runnable = [(plan.catchup, RunTrigger.CATCHUP)] if plan.catchup is not None else []
    runnable += [(slot, RunTrigger.SCHEDULE) for slot in plan.slots]
    for slot, trigger in runnable:
        if skip and busy:
            rows.append(claims.new_run(job, slot, trigger=trigger, status=RunStatus.SKIPPED, reason="overlap", now=now))
        else:
            rows.append(claims.new_run(job, slot, trigger=trigger))
            busy = True  # the catch-up run (claimed first) or the first slot occupies the job
    return rows


def _move_on_from_dead_claims(lost: Sequence[Plan], *, now: datetime, dead_before: datetime | None) -> None:
    """Jobs left at a slot claimed long ago by a scheduler that died before advancing them: advance them."""
    claimed = claims.claimed_at((plan.job.pk, plan.slot) for plan in lost)
    stale_before = now - timedelta(seconds=STALE_CLAIM_SECONDS)
    if dead_before is not None:
        stale_before = max(stale_before, dead_before)
    stale = [plan for plan in lost if plan.job.pk in claimed and claimed[plan.job.pk] <= stale_before]
    moves = []
    for plan in stale:
        following = schedules.next_fire_time(plan.job.schedule, after=plan.slot)
        moves.append((plan.job.pk, plan.slot, following and following.astimezone(UTC)))
    for job_id in store.current().compare_and_set(Job, moves, check="next_run_at", assign=["next_run_at"]):
        logger.warning(
            "beat: job %s was left at a slot claimed %s ago; moved on to its next slot",
            job_id,
            now - claimed[job_id],
            extra={"job_id": str(job_id)},
        )


def _advance_and_publish(won: Sequence[tuple[Plan, list[JobRun]]], *, now: datetime) -> None:
    moved = store.current().compare_and_set(
        Job, [(plan.job.pk, plan.slot, plan.following) for plan, _ in won], check="next_run_at", assign=["next_run_at"]
    )
    to_send: list[JobRun] = []
    finished: list[Job] = []
    unsure: list[tuple[Plan, list[JobRun]]] = []
    for plan, queued in won:
        if plan.job.pk in moved:
            to_send += queued
            if plan.following is None:
                finished.append(plan.job)
        elif queued:
            unsure.append((plan, queued))
    to_send += _still_runnable(unsure, now=now)
    for job in finished:
        job.next_run_at = None
        services.job_pause(job=job, actor=None, reason=PauseReason.FINISHED)
    services.publish([_message(run) for run in to_send])


def _still_runnable(unsure: Sequence[tuple[Plan, list[JobRun]]], *, now: datetime) -> list[JobRun]:
    """The runs of jobs whose advance found `next_run_at` moved: which of them still run.

    What moved it decides, read again from the job:
    - a pause or a delete: its due runs are skipped, its runs claimed ahead
      withdrawn (the pause came before their slots);
    - an edit of the schedule: the runs claimed ahead are withdrawn, due ones run;
    - neither: another beat moved the job on from these claims. That is a beat
      that took the lease over while this one was stopped between claim and
      advance (frozen, or too slow): it took these claims as dead but valid,
      published them again and went on claiming the slots after them. The runs
      stand and are published (a second message starts nothing): withdrawn,
      their slots would be lost, the job having moved past them.
    Only this pass's own claims are ever withdrawn here, by id: never runs
    the new holder claimed meanwhile.
    """
    if not unsure:
        return []
    fields = ["enabled", "paused_reason", *Job.SCHEDULE_FIELDS]
    state = {
        row[0]: dict(zip(fields, row[1:], strict=True))
        for row in Job.objects.filter(pk__in=[plan.job.pk for plan, _ in unsure]).order_by().values_list("pk", *fields)
    }
    runnable: list[JobRun] = []
    withdrawn: list[Any] = []
    for plan, queued in unsure:
        current = state.get(plan.job.pk)
        paused = current is None or (not current["enabled"] and current["paused_reason"] != PauseReason.FINISHED)
        edited = current is not None and any(current[name] != getattr(plan.job, name) for name in Job.SCHEDULE_FIELDS)
        for run in queued:
            if (paused or edited) and run.scheduled_for > now:
                withdrawn.append(run.pk)
            elif paused:
                lifecycle.skip(run, reason="paused", now=now)
            else:
                runnable.append(run)
    claims.withdraw(withdrawn)
    return runnable


def republish_claimed_since(since: datetime, *, within: Q | None = None) -> int:
    """Publish again the runs claimed since `since` that are still queued; returns how many.

    For a beat that took the lease over from a silent one, which may have died
    between claiming runs and publishing them. Those already published get a
    second message, which starts nothing (a run starts once, `claims.start`).
    `within`: only the runs it matches (the partitions taken over, by job id).
    """
    runs = list(
        JobRun.objects.filter(
            within or Q(),
            status=RunStatus.QUEUED,
            trigger__in=[RunTrigger.SCHEDULE, RunTrigger.CATCHUP],
            created_at__gte=since,
        ).order_by("scheduled_for")
    )
    # The jobs in a second read by id: a join would make MongoDB look up every run's job before
    # filtering on `created_at` (the guard pins the two reads).
    jobs = Job.objects.in_bulk({run.job_id for run in runs})
    runs = [run for run in runs if run.job_id in jobs]
    for run in runs:
        run.job = jobs[run.job_id]
    services.publish([_message(run) for run in runs])
    return len(runs)


def _message(run: JobRun) -> dispatch.Message:
    if run.trigger == RunTrigger.CATCHUP:
        return dispatch.run_message(run)
    start = policies.start_at(run, run.job)
    return dispatch.slot_message(run, start=start, now=timezone.now())
