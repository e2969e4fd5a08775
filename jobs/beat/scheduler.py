"""The project's beat scheduler: `celery -A scheduler_site beat` runs it (CELERY_BEAT_SCHEDULER).

For jobs, `jobs.schedules` and the indexed `Job.next_run_at` are the
authority on timing; django-celery-beat's rows for jobs (`job:<uuid>`, kept
by `jobs.beat.mirror`) are a mirror for its admin and tooling and are never
fired from here. Every other periodic task (the reaper, retention) goes
through django-celery-beat's stock machinery.

One pass over the jobs, the same on every database:

1. Read the due jobs: `enabled and next_run_at <= now + lookahead`, oldest
   first, in batches, until none is left (many jobs can come due at once).
2. Plan each job (`jobs.beat.planning`): which slots it runs, which passed
   while no scheduler ran (recorded `missed`), one catch-up run, or one slot
   claimed ahead; and its following slot.
3. Fire the batch (`jobs.beat.firing`): claim every slot with one insert
   (unique claims: a second beat loses and stops there), advance the jobs
   with one batch of conditional updates (only if `next_run_at` still holds
   the slot read, so an edit or pause is never overwritten), and publish.

Then sleep until the earliest `next_run_at` (less the lookahead), at most
JOBS_BEAT_POLL_SECONDS, so edits, pauses and resumes are seen within that
time without a restart. A resumed job has `next_run_at` set to its next
slot after the resume, so it does not fire for the slots it slept through.

Only the beat that holds the lease (`jobs.beat.lease`) does any of this, the
stock entries included; other beats stand by and take over when it lapses.
With JOBS_BEAT_PARTITIONS > 1 the beats share the jobs (`jobs.beat.partitions`):
each fires the jobs of the partitions it holds, and the holder of partition 0
runs the stock entries.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import DatabaseError, InterfaceError, close_old_connections, connections
from django.utils import timezone
from django_celery_beat.schedulers import SCHEDULE_SYNC_MAX_INTERVAL, DatabaseScheduler

from jobs.beat import firing, lease, mirror, partitions, planning
from jobs.execution import store
from jobs.models import Job
from scheduler_site import metrics

logger = logging.getLogger("jobs.beat.scheduler")

# A job whose slots cannot be computed (corrupt schedule) is retried after this.
BROKEN_JOB_RETRY_SECONDS = 60
# How often a working tick is recorded for health checks.
TICK_RECORD_SECONDS = 5
# On a takeover, runs claimed this much earlier than the silent beat's last possible pass are
# published again too: its clock may differ from this one's.
INHERIT_MARGIN_SECONDS = 5


class JobScheduler(DatabaseScheduler):
    """django-celery-beat's DatabaseScheduler, plus job timing from `jobs.schedules`."""

    #: Due jobs read per query; a tick keeps reading until none is left.
    batch_size = 500
    #: After this long in one tick, yield to the stock entries and come back at once.
    tick_budget_seconds = 2.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._jobs_check_at: datetime | None = None
        # Since when this scheduler has been working without a pause longer
        # than the misfire grace (see `tick_jobs`), and when its last
        # pass over the due jobs ended.
        self._working_since: datetime | None = None
        self._pass_ended: datetime | None = None
        self._broken: dict[Any, datetime] = {}
        self._tick_recorded_at: float | None = None
        self.mirror_check: threading.Thread | None = None
        self._mirror_check_due = False
        #: The partitions this beat holds (one lease, as before partitions, when JOBS_BEAT_PARTITIONS is 1).
        self.leases = partitions.Partitions()
        # Claims made before this instant are dead (their beat lost the lease to this one).
        self._dead_claims_before: datetime | None = None
        # Whether this beat ran the stock entries at its last tick, and whether it must read them again.
        self._runs_stock = False
        self._reread_stock = False
        self._stock_setup_due = False
        super().__init__(*args, **kwargs)

    # --- stock entries (system tasks) -----------------------------------------------

    def setup_schedule(self) -> None:
        # The stock entries (installing the system tasks, reading every entry) are set up at this
        # beat's first stock tick, which comes after its first pass over the due jobs (or 2 s into
        # it): at 100,000 jobs the read took 0.3 s at start-up, while slots due then waited.
        self._stock_setup_due = True
        # The mirror rows (jobs written without the services, e.g. restored from a backup) are
        # repaired in the background once this beat is active and has caught up (`_caught_up`): the
        # mirror never decides when a job runs, and checking 100,000 jobs took 20-50 s, during
        # which beat first fired nothing, then (on a thread) competed with its first passes.
        self._mirror_check_due = True
        logger.info(
            "beat: job scheduler started as %s (due jobs polled at least every %g s, claimed up to %g s ahead, "
            "misfire grace %d s, lease %g s, %d partition(s))",
            self.leases.holder,
            settings.JOBS_BEAT_POLL_SECONDS,
            settings.JOBS_BEAT_LOOKAHEAD_SECONDS,
            settings.JOBS_MISFIRE_GRACE_SECONDS,
            settings.JOBS_BEAT_LEASE_SECONDS,
            self.leases.count,
        )
        store.log_mode("beat")

    def schedule_changed(self) -> bool:
        """django-celery-beat's check for edited entries; also true once when this beat became their runner.

        A standby read the stock entries when it started, maybe hours ago; their
        last runs since are the previous holder's, saved as each ran
        (CELERY_BEAT_SYNC_EVERY=1). Read again, an entry that beat ran a minute
        ago is not due here: a takeover does not run it a second time.
        """
        changed = super().schedule_changed()
        if self._reread_stock:
            self._reread_stock = False
            return True
        return changed

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

    def close(self) -> None:
        """A clean stop (celery beat calls this on its way out): hand the lease to a standby at once."""
        try:
            super().close()
        finally:
            try:
                self.leases.release()
            except (DatabaseError, InterfaceError) as exc:
                logger.warning("beat: could not release the lease (a standby takes over when it lapses): %s", exc)

    def tick(self, *args: Any, **kwargs: Any) -> float:
        """One beat of the loop: as the active beat fire what is due; as a standby watch the lease.

        A stop signal (SIGTERM, SIGINT) is held until the tick ends. celery
        beat's handler closes the scheduler from inside the signal handler
        (it saves the stock entries and, here, releases the lease): run in
        the middle of one of this tick's queries, its own query waits for
        the connection the interrupted one holds, forever (psycopg's
        connection lock; a deploy's SIGTERM left beat hanging until it was
        killed). Held, it runs between ticks, while beat sleeps. And a pass
        stopped between a claim and its advance would leave the job at a
        claimed slot for firing.STALE_CLAIM_SECONDS, its run to the reaper.
        """
        with _signals_deferred():
            return self._tick(*args, **kwargs)

    def _do_sync(self) -> None:
        """celery's periodic save of the stock entries, after a sleep: database work, held from stop signals too."""
        with _signals_deferred():
            super()._do_sync()

    def _tick(self, *args: Any, **kwargs: Any) -> float:
        poll = settings.JOBS_BEAT_POLL_SECONDS
        try:
            held = self.leases.refresh()
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("beat: database error while renewing the lease, retrying in %.1f s: %s", poll, exc)
            return poll
        if 0 in held and not self._runs_stock:
            self._reread_stock = True  # (`schedule_changed`)
        self._runs_stock = 0 in held
        if not held:
            self._pass_ended = None  # when it takes over, its first pass is a first pass (see `tick_jobs`)
            return lease.STANDBY_POLL_SECONDS
        inherited = self.leases.inherited()
        if inherited:
            try:
                self._inherit(inherited)
            except (DatabaseError, InterfaceError) as exc:
                logger.warning("beat: database error while taking over, retrying in %.1f s: %s", poll, exc)
                return poll
        now = timezone.now()
        check_at = self._jobs_check_at
        # (A check time far ahead means the wall clock stepped back: check now.)
        if check_at is None or now >= check_at or (check_at - now).total_seconds() > poll:
            self._jobs_check_at = timezone.now() + timedelta(seconds=self.tick_jobs())
        # The stock entries (reaper, retention) on one beat only: the holder of partition 0.
        stock_wait = self._tick_stock(*args, **kwargs) if 0 in held else poll
        jobs_wait = max(0.0, (self._jobs_check_at - timezone.now()).total_seconds())
        # At most JOBS_BEAT_POLL_SECONDS, which settings keep under a third of the lease: back in time to renew it.
        wait = min(stock_wait, jobs_wait)
        if self.leases.count > 1:
            # Back in time to see another beat's partition lapse (or be released) and take it on time.
            wait = min(wait, lease.STANDBY_POLL_SECONDS)
        return wait

    def _tick_stock(self, *args: Any, **kwargs: Any) -> float:
        """celery's tick over the stock entries, set up first if this is the first one (`setup_schedule`)."""
        if self._stock_setup_due:
            self._stock_setup_due = False
            self._reread_stock = False  # about to be read for the first time
            super().setup_schedule()
        return super().tick(*args, **kwargs)

    def _inherit(self, taken: list[int]) -> None:
        """Take over a silent beat's unfinished work (lease rule 6): its unpublished runs, its dead claims.

        `taken`: the partitions inherited. One instant for the dead claims is
        enough: this beat reads only the jobs of partitions it holds, and a
        claim on one of those made before its latest takeover is either its own
        (a pass that failed between claim and advance) or a silent holder's.
        """
        now = timezone.now()
        # Its last pass began at most a lease (plus a tick budget) before now; a margin for clock skew.
        since = now - timedelta(seconds=self.leases.seconds + self.tick_budget_seconds + INHERIT_MARGIN_SECONDS)
        within = partitions.id_filter(taken, self.leases.count, field="job_id")
        sent = firing.republish_claimed_since(since, within=within)
        self._dead_claims_before = now
        logger.info("beat: took over; %d run(s) claimed since %s published again", sent, since.isoformat())

    def tick_jobs(self) -> float:
        """Fire every due job; return the seconds until the next check."""
        poll = settings.JOBS_BEAT_POLL_SECONDS
        grace = timedelta(seconds=settings.JOBS_MISFIRE_GRACE_SECONDS)
        pass_started = timezone.now()
        if self._pass_ended is None or pass_started - self._pass_ended > grace or self._working_since is None:
            self._working_since = pass_started
        lookahead = timedelta(seconds=settings.JOBS_BEAT_LOOKAHEAD_SECONDS)
        try:
            upcoming = self._pass(lookahead, grace)  # (a stop signal waits for the tick: `tick`)
        except (DatabaseError, InterfaceError) as exc:
            logger.warning("beat: database error while firing jobs, retrying in %.1f s: %s", poll, exc)
            return poll
        self._pass_ended = timezone.now()
        if upcoming is _MORE_DUE:
            return 0.0
        self._caught_up()
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
        # Only the jobs of the partitions held (no filter with one partition).
        held = self.leases.active()
        mine = partitions.id_filter(held, self.leases.count)
        later: list[Any] = []  # within the lookahead but claimed only when due (a last slot): not read again
        while True:
            now = timezone.now()
            broken = self._broken_ids(now)
            due = list(
                Job.objects.filter(mine, enabled=True, next_run_at__lte=now + lookahead)
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
            if self.leases.acquired() and not set(held) <= set(self.leases.refresh()):
                return None  # a lease lapsed or was taken mid-pass: the next tick acts on what is still held
        return (
            Job.objects.filter(mine, enabled=True, next_run_at__isnull=False)
            .exclude(pk__in=self._broken_ids(timezone.now()))
            .order_by("next_run_at")
            .values_list("next_run_at", flat=True)
            .first()
        )

    def _caught_up(self) -> None:
        """A pass found nothing more due: start the mirror repair if it is still to do (partition 0's holder)."""
        if self._mirror_check_due and (self.leases.count == 1 or 0 in self.leases.active()):
            self._mirror_check_due = False
            self.mirror_check = threading.Thread(target=_check_mirror, name="beat-mirror-check", daemon=True)
            self.mirror_check.start()

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
        """Plan and fire a batch of due (or nearly due) jobs; returns the ids of those left for later.

        A job whose schedule cannot be computed is set aside for
        BROKEN_JOB_RETRY_SECONDS (and logged), so one broken row cannot stop
        the others.
        """
        plans = []
        later = []
        for job in jobs:
            try:
                plan = planning.plan(
                    job,
                    now=now,
                    horizon=horizon,
                    stale_before=stale_before,
                    missed_limit=settings.JOBS_MISSED_RECORD_LIMIT,
                )
            except Exception:
                logger.exception("beat: job %s could not be fired; retrying in %d s", job.pk, BROKEN_JOB_RETRY_SECONDS)
                self._broken[job.pk] = now + timedelta(seconds=BROKEN_JOB_RETRY_SECONDS)
                continue
            if plan is None:
                later.append(job.pk)
            else:
                plans.append(plan)
        firing.fire(plans, now=now, dead_claims_before=self._dead_claims_before)
        return later


_MORE_DUE = object()


@contextlib.contextmanager
def _signals_deferred() -> Iterator[None]:
    """Hold SIGTERM and SIGINT until the block ends, then deliver the first one to its handler.

    A second one is not held: a pass stuck on a database that does not
    answer must not make beat unstoppable. Only in the main thread (the only
    one that can handle signals); beat's tick runs there.
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


#: The background mirror check sleeps this many times as long as each chunk took, so it leaves
#: most of the process to firing jobs (at 100,000 jobs it takes a few minutes; nothing waits for it).
MIRROR_CHECK_PACE = 4.0


def _check_mirror() -> None:
    """Beat's start-up mirror repair (`mirror.sync_all`), on a thread of its own. Never stops beat."""
    try:
        mirror.sync_all(pace=MIRROR_CHECK_PACE)
    except Exception:
        logger.exception("beat: could not re-sync the job mirror rows")
    finally:
        connections.close_all()  # this thread's own connections
