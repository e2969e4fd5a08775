"""The job's policies as decisions: when a run starts, whether it runs, retries, or pauses its job.

Decisions only: the writes they lead to are made by `claims` (runs),
`lifecycle` (a run's end) and the services (a job's pause).
"""

from __future__ import annotations

import hashlib
import random
from datetime import datetime, timedelta

from jobs.execution import claims
from jobs.models import ACTIVE_STATUSES, Job, JobRun, OverlapPolicy, PauseReason, RunTrigger

# Retry delays are stretched by up to this fraction, at random, so that runs
# failing together do not retry in lockstep.
RETRY_JITTER_FRACTION = 0.1


def jitter_offset(job: Job) -> float:
    """The job's fixed start delay in [0, jitter_seconds], derived from its id.

    Deterministic, so a job's runs always start at the same offset after
    their slots, while jobs sharing a schedule are spread out.
    """
    if not job.jitter_seconds:
        return 0.0
    digest = hashlib.sha256(str(job.id).encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return round(fraction * job.jitter_seconds, 3)


def start_at(run: JobRun, job: Job) -> datetime:
    """When a claimed scheduled run is to start: its slot plus the job's jitter."""
    return run.scheduled_for + timedelta(seconds=jitter_offset(job))


def retry_delay(job: Job, failed_attempt: int, *, rng: random.Random | None = None) -> float:
    """Backoff before the retry that follows attempt `failed_attempt`: backoff * 2^(n-1), plus jitter."""
    base = job.retry_backoff_seconds * 2 ** (failed_attempt - 1)
    return base + (rng or random).uniform(0, base * RETRY_JITTER_FRACTION)


def expected_start(run: JobRun, job: Job) -> datetime:
    """When a queued run should have been picked up by a worker (the reaper's measure)."""
    if run.trigger == RunTrigger.SCHEDULE:
        return start_at(run, job)
    if run.trigger == RunTrigger.RETRY:
        longest = job.retry_backoff_seconds * 2 ** (run.attempt - 2) * (1 + RETRY_JITTER_FRACTION)
        return run.created_at + timedelta(seconds=longest)
    return run.created_at


def blocked_by_pause(job: Job, run: JobRun) -> bool:
    """Paused jobs start nothing but manual runs (a finished one-off job still runs its slot)."""
    if job.enabled or run.trigger == RunTrigger.MANUAL:
        return False
    return job.paused_reason != PauseReason.FINISHED


def claimed_ahead(run: JobRun) -> bool:
    """Whether beat claimed this scheduled run before its slot (JOBS_BEAT_LOOKAHEAD_SECONDS)."""
    return run.trigger == RunTrigger.SCHEDULE and run.created_at is not None and run.created_at < run.scheduled_for


def overlaps(run: JobRun, job: Job) -> bool:
    """Overlap policy `skip` for a run claimed ahead, decided as it starts.

    A run claimed when due was checked at the claim (by beat). One claimed
    ahead was not: a run busy at the claim may be done by the slot. It is
    skipped if an earlier run of the job is still queued or running (later
    slots claimed ahead, waiting for their own time, do not count).
    """
    if job.overlap_policy != OverlapPolicy.SKIP or not claimed_ahead(run):
        return False
    earlier = JobRun.objects.filter(job_id=job.pk, status__in=ACTIVE_STATUSES, scheduled_for__lt=run.scheduled_for)
    return earlier.exclude(pk=run.pk).exists()


def last_attempt(run: JobRun, job: Job) -> bool:
    """Whether no retry follows this run if it fails: its slot's outcome is this run's."""
    return run.attempt > job.max_retries


def should_auto_pause(job: Job) -> bool:
    """After `pause_after_failures` consecutive failed slots (a slot fails when its last attempt does)."""
    limit = job.pause_after_failures
    return bool(job.enabled and limit and job.consecutive_failures >= limit)


def retry_of(run: JobRun, job: Job) -> JobRun | None:
    """The next attempt of a failed run (same slot, trigger `retry`), if the policy allows; not yet claimed."""
    if last_attempt(run, job) or blocked_by_pause(job, run):
        return None
    return claims.new_run(job, run.scheduled_for, trigger=RunTrigger.RETRY, attempt=run.attempt + 1)
