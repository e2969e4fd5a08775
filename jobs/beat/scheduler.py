"""The project's beat scheduler: `celery -A scheduler_site beat` runs it (CELERY_BEAT_SCHEDULER).

For jobs, `jobs.schedules` and the indexed `Job.next_run_at` are the
authority on timing; django-celery-beat's rows for jobs (`job:<uuid>`, kept
by `jobs.beat.mirror`) are a mirror for its admin and tooling and are never
fired from here. Every other periodic task (the reaper, retention) goes
through django-celery-beat's stock machinery.

One tick for jobs:

1. Select the due jobs: `enabled and next_run_at <= now`, oldest first, in
   batches, until none is left (many jobs can come due at once).
2. For each job, account for every slot from its `next_run_at` up to now.
   Slots older than JOBS_MISFIRE_GRACE_SECONDS passed while no scheduler ran:
   they are recorded `missed` (bounded), and with catchup_policy `once` one
   `catchup` run is made for the latest of them. Newer slots are claimed by
   inserting their JobRun under the unique claim key (job, slot, schedule):
   a second beat loses the insert of the first slot and stops there.
3. Advance `next_run_at` to the next slot after now with a conditional
   single-row update (only if it still holds the slot we read), so a
   concurrent edit or pause is never overwritten.
4. Publish `run_job(job_id, scheduled_for)` for each claimed run, delayed by
   the job's jitter.

Then sleep until the earliest `next_run_at`, at most JOBS_BEAT_POLL_SECONDS,
so edits, pauses and resumes are seen within that time without a restart.
A resumed job has `next_run_at` set to its next slot after the resume, so it
does not fire for the slots it slept through.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections, connection, connections
from django.db.models import Case, DateTimeField, Q, Value, When
from django.utils import timezone
from django_celery_beat.schedulers import SCHEDULE_SYNC_MAX_INTERVAL, DatabaseScheduler

from jobs import schedules
from jobs.beat import mirror
from jobs.execution import dispatch, runs
from jobs.execution.store import sql
from jobs.models import (
    ACTIVE_STATUSES,
    CatchupPolicy,
    Job,
    JobRun,
    OverlapPolicy,
    PauseReason,
    RunStatus,
    RunTrigger,
    ScheduleKind,
)
from scheduler_site import metrics

logger = logging.getLogger("jobs.beat.scheduler")

# A slot whose claim is older than this while next_run_at still holds it was
# claimed by a scheduler that died before advancing the job: move on.
STALE_CLAIM_SECONDS = 30
# A job whose slots cannot be computed (corrupt schedule) is retried after this.
BROKEN_JOB_RETRY_SECONDS = 60
# How often a working tick is recorded for health checks.
TICK_RECORD_SECONDS = 5
# Backends on which a batch of on-time slots is claimed with one insert (that
# skips taken claim keys) and advanced with one conditional update. Elsewhere
# (MongoDB) every job goes through `fire_job`.
BATCH_VENDORS = frozenset({"postgresql", "sqlite"})


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class JobScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler, plus job timing from `jobs.schedules`."""

    #: Due jobs read per query; a tick keeps reading until none is left.
    batch_size = 500
    #: After this long in one tick, yield to the stock entries and come back at once.
    tick_budget_seconds = 2.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._jobs_check_at: datetime | None = None
        # Since when this scheduler has been working without a pause longer
        # than the misfire grace (see `_stale_before`), and when its last
        # pass over the due jobs ended.
        self._working_since: datetime | None = None
        self._pass_ended: datetime | None = None
        self._broken: dict[Any, datetime] = {}
        self._tick_recorded_at: float | None = None
        self.mirror_check: threading.Thread | None = None
        super().__init__(*args, **kwargs)

    # --- stock entries (system tasks) -----------------------------------------------

    def setup_schedule(self) -> None:
        super().setup_schedule()
        # Repair the mirror rows (jobs written without the services, e.g.
        # restored from a backup) in the background: the mirror never decides
        # when a job runs, and checking 100,000 jobs took beat 20-50 s during
        # which nothing was fired, so it started behind and never caught up.
        self.mirror_check = threading.Thread(target=_check_mirror, name="beat-mirror-check", daemon=True)
        self.mirror_check.start()
        logger.info(
            "beat: job scheduler started (due jobs polled at least every %g s, misfire grace %d s)",
            settings.JOBS_BEAT_POLL_SECONDS,
            settings.JOBS_MISFIRE_GRACE_SECONDS,
        )

    def enabled_models_qs(self) -> Any:
        """Stock entries only: job mirror rows are timed by `tick_jobs`.

        Also replaces the stock crontab-hour pre-filter, whose
        `Cast('hour', IntegerField())` fails on MongoDB for `*` hours.
        """
        horizon = timezone.now() + timedelta(seconds=SCHEDULE_SYNC_MAX_INTERVAL)
        return (
            self.Model.objects.enabled()
            .exclude(name__startswith=mirror.ENTRY_PREFIX)
            .exclude(clocked__isnull=False, clocked__clocked_time__gt=horizon)
        )

    # --- the tick ----------------------------------------------------------------------

    def tick(self, *args: Any, **kwargs: Any) -> float:
        poll = settings.JOBS_BEAT_POLL_SECONDS
        now = timezone.now()
        check_at = self._jobs_check_at
        # (A check time far ahead means the wall clock stepped back: check now.)
        if check_at is None or now >= check_at or (check_at - now).total_seconds() > poll:
            self._jobs_check_at = timezone.now() + timedelta(seconds=self.tick_jobs())
        stock_wait = super().tick(*args, **kwargs)
        jobs_wait = max(0.0, (self._jobs_check_at - timezone.now()).total_seconds())
        return min(stock_wait, jobs_wait)

    def tick_jobs(self) -> float:
        """Fire every due job; return the seconds until the next check."""
        poll = settings.JOBS_BEAT_POLL_SECONDS
        grace = timedelta(seconds=settings.JOBS_MISFIRE_GRACE_SECONDS)
        pass_started = timezone.now()
        if self._pass_ended is None or pass_started - self._pass_ended > grace or self._working_since is None:
            self._working_since = pass_started
        lookahead = _lookahead()
        try:
            # A stop (SIGTERM, Ctrl-C) waits for the pass to end: stopped
            # between a claim and its advance, a job would sit at a claimed
            # slot for STALE_CLAIM_SECONDS, and the claimed run would wait
            # for the reaper instead of being published.
            with _signals_deferred():
                upcoming = self._pass(lookahead, grace)
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("beat: database error while firing jobs, retrying in %.1f s: %s", poll, exc)
            return poll
        self._pass_ended = timezone.now()
        if upcoming is _MORE_DUE:
            return 0.0
        self._record_tick()
        if upcoming is None:
            return poll
        wait = (upcoming - lookahead - timezone.now()).total_seconds()
        if wait <= 0:
            # Still due (or within the lookahead) after this pass: another
            # scheduler holds its claim and is about to advance it, or the
            # slot came within reach during the pass. Look again shortly.
            return min(poll, 0.05)
        return min(poll, wait)

    def _pass(self, lookahead: timedelta, grace: timedelta) -> Any:
        """Fire what is due; returns the earliest next_run_at left, or _MORE_DUE when out of time."""
        started = time.monotonic()
        close_old_connections()
        later: list[Any] = []  # within the lookahead but not claimed ahead (one-off jobs): not read again
        while True:
            now = timezone.now()
            broken = self._broken_ids(now)
            due = list(
                Job.objects.filter(enabled=True, next_run_at__lte=now + lookahead)
                .exclude(pk__in=broken + later)
                .order_by("next_run_at")[: self.batch_size]
            )
            later += self._fire_batch(
                due, now=now, horizon=now + lookahead, stale_before=min(now, self._working_since) - grace
            )
            if len(due) < self.batch_size:
                break
            if time.monotonic() - started > self.tick_budget_seconds:
                return _MORE_DUE  # yield to the stock entries, come straight back
        return (
            Job.objects.filter(enabled=True, next_run_at__isnull=False)
            .exclude(pk__in=self._broken_ids(timezone.now()))
            .order_by("next_run_at")
            .values_list("next_run_at", flat=True)
            .first()
        )

    def _record_tick(self) -> None:
        """Tell `manage.py beat_health` (and /metrics) that job timing works, at most every few seconds."""
        now = time.monotonic()
        if self._tick_recorded_at is None or now - self._tick_recorded_at >= TICK_RECORD_SECONDS:
            self._tick_recorded_at = now
            metrics.record_beat_tick()

    def _broken_ids(self, now: datetime) -> list[Any]:
        for job_id, until in list(self._broken.items()):
            if until <= now:
                del self._broken[job_id]
        return list(self._broken)

    def _fire_batch(self, jobs: list[Job], *, now: datetime, stale_before: datetime, horizon: datetime) -> list[Any]:
        """Fire a batch of due jobs, and claim ahead those whose slot is before `horizon`.

        A job is claimed, advanced and published together with the rest of
        the batch (`fire_many`) when its plan can be made here (`_plan`): a
        few queries per batch instead of several per job, which is what lets
        a burst of thousands of jobs due in the same second go out within
        seconds, and a beat that fell behind catch up. Everything else
        (one-off jobs, catch-up runs, a schedule that cannot be computed,
        MongoDB) goes through `fire_job`, one job at a time, once due.
        Returns the ids of the jobs left for later: not due, and not to be
        claimed ahead.
        """
        planned: list[DuePlan] = []
        later = []
        batchable = connection.vendor in BATCH_VENDORS
        for job in jobs:
            slot = job.next_run_at
            if slot is None or slot > horizon:
                continue
            plan = _plan(job, now=now, stale_before=stale_before) if batchable else None
            if plan is not None:
                planned.append(plan)
            elif slot <= now:
                self._fire_safely(job, now=now, stale_before=stale_before)
            else:
                later.append(job.pk)
        if planned:
            fire_many(planned, now=now)
        return later

    def _fire_safely(self, job: Job, *, now: datetime, stale_before: datetime | None = None) -> None:
        try:
            fire_job(job, now=now, stale_before=stale_before)
        except (DatabaseError, InterfaceError):
            raise
        except Exception:
            logger.exception("beat: job %s could not be fired; retrying in %d s", job.pk, BROKEN_JOB_RETRY_SECONDS)
            self._broken[job.pk] = now + timedelta(seconds=BROKEN_JOB_RETRY_SECONDS)


_MORE_DUE = object()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGTERM and SIGINT until the block ends, then deliver the first one to its handler.

    A second one is not held: a pass stuck on a database that does not
    answer must not make beat unstoppable. Only in the main thread (the only
    one that can handle signals); beat's pass runs there.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous: dict[int, Any] = {}

    def restore() -> None:
        for sig, handler in previous.items():
            # (None: a handler not installed from Python, which cannot be put back; the default is.)
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)

    def hold(signum: int, frame: Any) -> None:
        received.append(signum)
        if len(received) > 1:
            restore()
            os.kill(os.getpid(), signum)  # handled as usual as soon as this handler returns

    previous.update((sig, signal.signal(sig, hold)) for sig in _DEFERRED)
    try:
        yield
    finally:
        restore()
        if len(received) == 1:
            os.kill(os.getpid(), received[0])  # now handled as it would have been


_DEFERRED = (signal.SIGTERM, signal.SIGINT)


#: The background mirror check sleeps this many times as long as each chunk took,
#: so it leaves most of the process to firing jobs.
MIRROR_CHECK_PACE = 1.0


def _check_mirror() -> None:
    """Beat's start-up mirror repair (`mirror.sync_all`), on a thread of its own. Never stops beat."""
    try:
        mirror.sync_all(pace=MIRROR_CHECK_PACE)
    except Exception:
        logger.exception("beat: could not re-sync the job mirror rows")
    finally:
        connections.close_all()  # this thread's own connections


def fire_job(job: Job, *, now: datetime, stale_before: datetime | None = None) -> list[JobRun]:
    """Account for every slot of a due job up to `now` and publish its runs; returns them.

    Slots before `stale_before` (default: the misfire grace before now)
    passed while no scheduler was running.
    """
    slot = job.next_run_at
    if slot is None or slot > now:
        return []
    schedule = job.schedule
    stale_end = stale_before or now - timedelta(seconds=settings.JOBS_MISFIRE_GRACE_SECONDS)
    stale, fresh, note = _due_slots(job, now=now, stale_before=stale_end)
    upcoming = schedules.next_fire_time(schedule, after=now)
    upcoming = _utc(upcoming) if upcoming is not None else None

    claimed: list[JobRun] = []
    if stale:
        if runs.record_missed(job, stale, now=now, note=note) is None:
            _claim_lost(job, slot, now=now)
            return []
        if job.catchup_policy == CatchupPolicy.ONCE:
            # Claimed before the on-time slots, so with overlap_policy=skip
            # an on-time slot right after a downtime is skipped, not doubled.
            catchup = runs.claim_slot(job, stale[-1], trigger=RunTrigger.CATCHUP, now=now)
            if catchup is not None:
                claimed.append(catchup)
    for index, fresh_slot in enumerate(fresh):
        run = runs.claim_slot(job, fresh_slot, now=now)
        if run is None:
            if index == 0 and not stale:
                _claim_lost(job, slot, now=now)
                return []
            continue
        claimed.append(run)

    queued = [run for run in claimed if run.status == RunStatus.QUEUED]
    if Job.objects.filter(pk=job.pk, next_run_at=slot).update(next_run_at=upcoming) != 1:
        # An edit, pause or delete landed meanwhile; its next_run_at stands.
        current = Job.objects.filter(pk=job.pk).only("enabled", "paused_reason").first()
        if current is None or (not current.enabled and current.paused_reason != PauseReason.FINISHED):
            for run in queued:
                runs.finish_run(run, status=RunStatus.SKIPPED, reason="paused", expected=RunStatus.QUEUED, retry=False)
            return claimed
    elif upcoming is None:
        from jobs import services

        job.next_run_at = None
        services.job_pause(job=job, actor=None, reason=PauseReason.FINISHED)

    for run in queued:
        if run.trigger == RunTrigger.SCHEDULE:
            start = run.scheduled_for + timedelta(seconds=runs.jitter_offset(job))
            dispatch.send_slot(run, countdown=max(0.0, (start - timezone.now()).total_seconds()))
        else:
            dispatch.send_run(run)
    return claimed


@dataclass
class DuePlan:
    """What one pass does for one job: the same slots and outcomes as `fire_job`.

    `missed`: slots that passed while no scheduler ran (catch-up policy
    `skip`), recorded `missed`; `note` goes on the last one when the record
    was cut at JOBS_MISSED_RECORD_LIMIT. `slots`: slots to run, either every
    fresh slot up to now, or one slot still to come (claimed ahead, within
    JOBS_BEAT_LOOKAHEAD_SECONDS). `following`: the job's next slot after
    these, which `next_run_at` advances to.
    """

    job: Job
    slots: list[datetime]
    following: datetime
    missed: list[datetime] = field(default_factory=list)
    note: str = ""


def _plan(job: Job, *, now: datetime, stale_before: datetime) -> DuePlan | None:
    """The batched plan for a due (or nearly due) job; None for the per-job path."""
    slot = job.next_run_at
    if slot is None or job.schedule_kind == ScheduleKind.ONCE:
        return None  # a one-off job is finished (paused) by fire_job when due
    schedule = job.schedule
    try:
        if slot > now:
            following = schedules.next_fire_time(schedule, after=slot)
            return DuePlan(job, [slot], _utc(following)) if following is not None else None
        missed, slots, note = _due_slots(job, now=now, stale_before=stale_before)
        if missed and job.catchup_policy != CatchupPolicy.SKIP:
            return None  # one catch-up run: fire_job
        following = schedules.next_fire_time(schedule, after=now)
    except Exception:
        return None  # fire_job reports it
    if following is None or _utc(following) <= now:
        return None
    return DuePlan(job, slots, _utc(following), missed, note)


def _due_slots(job: Job, *, now: datetime, stale_before: datetime) -> tuple[list[datetime], list[datetime], str]:
    """A due job's slots from its next_run_at up to now: (missed, fresh, note).

    Slots before `stale_before` passed while no scheduler ran (at most
    JOBS_MISSED_RECORD_LIMIT; `note` says when later ones were not
    counted); the rest are claimed to run. `fire_job` and `fire_many` both
    take them from here.
    """
    slot = job.next_run_at
    schedule = job.schedule
    limit = settings.JOBS_MISSED_RECORD_LIMIT
    if slot > stale_before:
        later = schedules.slots_between(schedule, start=slot, end=now, limit=limit)
        return [], [slot] + [_utc(s) for s in later], ""
    earlier = schedules.slots_between(schedule, start=slot, end=stale_before, limit=limit - 1)
    missed = [slot] + [_utc(s) for s in earlier]
    note = "later missed slots were not recorded" if len(missed) >= limit else ""
    fresh = [_utc(s) for s in schedules.slots_between(schedule, start=stale_before, end=now, limit=limit)]
    return missed, fresh, note


def fire_many(plans: list[DuePlan], *, now: datetime) -> None:
    """Claim, advance and publish many jobs' slots; the same steps and outcomes as `fire_job`, batched.

    One query for the jobs with an active run (overlap policy `skip`), one
    insert of all the claims (missed runs included) that skips keys already
    taken, one read-back of which claims are ours (the run ids are made
    here), one conditional update that advances every job still at the slot
    read, and one pipelined batch of messages. As in `fire_job`: a job whose
    first claim is lost belongs to another scheduler; with overlap `skip`, a
    job's later due slots in the same pass are `skipped` (its first is
    queued or was skipped itself); a failed advance means an edit, pause or
    delete landed meanwhile, and it stands.

    A slot claimed ahead (still to come) is published with the slot as its
    ETA. Its overlap is decided when it starts (`runs.execute`), not here: a
    run that is busy now may be done by then. If its advance fails, the
    edit, pause or delete came before the slot, and the claim is withdrawn.
    """
    skip_ids = [
        plan.job.pk
        for plan in plans
        if plan.job.overlap_policy == OverlapPolicy.SKIP and plan.slots and plan.slots[0] <= now
    ]
    busy = set()
    if skip_ids:
        busy = set(
            JobRun.objects.filter(job_id__in=skip_ids, status__in=ACTIVE_STATUSES).values_list("job_id", flat=True)
        )
    claims: list[tuple[DuePlan, list[JobRun]]] = []
    for plan in plans:
        job = plan.job
        skip = job.overlap_policy == OverlapPolicy.SKIP
        job_runs = [
            _missed_run(job, slot, now=now, note=plan.note if index == len(plan.missed) - 1 else "")
            for index, slot in enumerate(plan.missed)
        ]
        for index, slot in enumerate(plan.slots):
            run = JobRun(
                job=job,
                scheduled_for=slot,
                trigger=RunTrigger.SCHEDULE,
                attempt=1,
                claim_key=JobRun.make_claim_key(job.pk, slot, RunTrigger.SCHEDULE, 1),
            )
            if skip and slot <= now and (index > 0 or job.pk in busy):
                run.status, run.reason, run.finished_at = RunStatus.SKIPPED, "overlap", now
            job_runs.append(run)
        claims.append((plan, job_runs))
    new_runs = [run for _, job_runs in claims for run in job_runs]
    JobRun.objects.bulk_create(new_runs, ignore_conflicts=True, batch_size=2000)
    claimed = JobRun.objects.filter(
        job_id__in=[plan.job.pk for plan in plans], claim_key__in=[run.claim_key for run in new_runs]
    )
    ours = set(claimed.values_list("id", flat=True))
    won: list[tuple[Job, datetime, datetime, list[JobRun]]] = []
    not_run: dict[Any, list[JobRun]] = {}
    unclaimed: list[Any] = []
    for plan, job_runs in claims:
        job = plan.job
        if job_runs[0].id not in ours:
            # As in fire_job, the first slot is the gate: the job's later rows,
            # inserted with the batch, are not ours to keep either.
            unclaimed.extend(run.id for run in job_runs[1:] if run.id in ours)
            _claim_lost(job, job.next_run_at, now=now)
            continue
        job_runs = [run for run in job_runs if run.id in ours]
        missed = [run for run in job_runs if run.status == RunStatus.MISSED]
        if missed:
            runs.log_missed(job, len(missed))
        for run in job_runs:
            if run.status == RunStatus.SKIPPED:
                runs._log_end(run)
        ended = [run for run in job_runs if run.status in (RunStatus.MISSED, RunStatus.SKIPPED)]
        if ended:
            not_run[job.pk] = ended
        won.append((job, job.next_run_at, plan.following, job_runs))
    if unclaimed:
        JobRun.objects.filter(pk__in=unclaimed).delete()
    if not_run:
        runs.record_skipped(not_run, now=now)
    if not won:
        return
    advanced = _advance(won)
    to_send = []
    for job, _slot, _following, job_runs in won:
        queued = [run for run in job_runs if run.status == RunStatus.QUEUED]
        if job.pk in advanced or not queued:
            to_send.extend((job, run) for run in queued)
            continue
        # An edit, pause or delete landed meanwhile; its next_run_at stands.
        if any(run.scheduled_for > now for run in queued):
            # It came before these slots: as if they had never been claimed.
            runs.withdraw_ahead(job, now=now)
            queued = [run for run in queued if run.scheduled_for <= now]
            if not queued:
                continue
        current = Job.objects.filter(pk=job.pk).only("enabled", "paused_reason").first()
        if current is None or (not current.enabled and current.paused_reason != PauseReason.FINISHED):
            for run in queued:
                runs.finish_run(run, status=RunStatus.SKIPPED, reason="paused", expected=RunStatus.QUEUED, retry=False)
        else:
            to_send.extend((job, run) for run in queued)
    if not to_send:
        return
    with dispatch.batch():
        for job, run in to_send:
            start = run.scheduled_for + timedelta(seconds=runs.jitter_offset(job))
            dispatch.send_slot(run, countdown=max(0.0, (start - timezone.now()).total_seconds()))


def _missed_run(job: Job, slot: datetime, *, now: datetime, note: str = "") -> JobRun:
    return JobRun(
        job=job,
        scheduled_for=slot,
        trigger=RunTrigger.SCHEDULE,
        status=RunStatus.MISSED,
        reason=runs.missed_reason(note),
        finished_at=now,
        claim_key=JobRun.make_claim_key(job.pk, slot, RunTrigger.SCHEDULE, 1),
    )


def _lookahead() -> timedelta:
    """How far ahead slots are claimed: JOBS_BEAT_LOOKAHEAD_SECONDS on the batched backends, else none."""
    if connection.vendor not in BATCH_VENDORS:
        return timedelta(0)
    return timedelta(seconds=settings.JOBS_BEAT_LOOKAHEAD_SECONDS)


def _advance(claimed: list[tuple[Job, datetime, datetime, Any]]) -> set[Any]:
    """Move each job from its slot to its following slot if it still holds the slot; returns the ids moved."""
    if connection.vendor == "postgresql":
        rows = [(job.pk, slot, following) for job, slot, following, _ in claimed]
        return sql.update_where_unchanged(Job, rows, check="next_run_at", assign=["next_run_at"])
    still_at = Q()
    for job, slot, _, _ in claimed:
        still_at |= Q(pk=job.pk, next_run_at=slot)
    moved = Job.objects.filter(still_at).update(
        next_run_at=Case(
            *(When(pk=job.pk, then=Value(following)) for job, _, following, _ in claimed),
            output_field=DateTimeField(),
        )
    )
    ids = {job.pk for job, *_ in claimed}
    if moved == len(claimed):
        return ids
    # Some rows had changed. A row now at exactly the slot we computed was
    # moved by us (an edit landing on that same instant is equivalent).
    wanted = {job.pk: following for job, _, following, _ in claimed}
    now_at = Job.objects.filter(pk__in=ids).values_list("pk", "next_run_at")
    return {pk for pk, value in now_at if value == wanted[pk]}


def _claim_lost(job: Job, slot: datetime, *, now: datetime) -> None:
    """Another scheduler claimed `slot`. If it died before advancing the job, advance it."""
    key = JobRun.make_claim_key(job.pk, slot, RunTrigger.SCHEDULE, 1)
    claimed_at = JobRun.objects.filter(job_id=job.pk, claim_key=key).values_list("created_at", flat=True).first()
    if claimed_at is None or now - claimed_at < timedelta(seconds=STALE_CLAIM_SECONDS):
        return
    following = schedules.next_fire_time(job.schedule, after=slot)
    if Job.objects.filter(pk=job.pk, next_run_at=slot).update(next_run_at=following and _utc(following)) == 1:
        logger.warning(
            "beat: job %s was left at a slot claimed %s ago; moved on to its next slot",
            job.pk,
            now - claimed_at,
            extra={"job_id": str(job.pk)},
        )
