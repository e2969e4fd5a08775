"""Publishing runs to the workers.

Every message carries the run's time limits: the soft limit is the job's
`timeout_seconds` (the run is stopped and marked `timed_out`), the hard limit
one second later kills the worker process if the action ignores the soft one
(the worker's parent then marks the run `timed_out`). Time limits need the
prefork pool, which is the worker's default.

A run that cannot be published (broker down) is marked `failed` at once
rather than left `queued`.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

from jobs.models import JobRun, RunStatus

logger = logging.getLogger(__name__)

# Between the soft time limit (the run's timeout) and the hard kill.
HARD_LIMIT_MARGIN_SECONDS = 1

# The producer of the current `batch()`, if any.
_producer: contextvars.ContextVar[Any] = contextvars.ContextVar("dispatch_producer", default=None)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Publish everything sent inside the block through one producer (one broker connection).

    Beat publishes thousands of messages when many jobs are due at once;
    taking a producer from the pool for each one is most of the cost of a
    publish.
    """
    from jobs.tasks import run_job

    if _producer.get() is not None:
        yield
        return
    with run_job.app.producer_or_acquire() as producer:
        token = _producer.set(producer)
        try:
            yield
        finally:
            _producer.reset(token)


def time_limits(timeout_seconds: int) -> dict[str, int]:
    return {"soft_time_limit": timeout_seconds, "time_limit": timeout_seconds + HARD_LIMIT_MARGIN_SECONDS}


def send_slot(run: JobRun, *, countdown: float = 0) -> bool:
    """Publish `run_job(job_id, scheduled_for)` for a claimed scheduled run."""
    from jobs.tasks import run_job

    return _publish(
        run,
        run_job,
        args=[str(run.job_id), run.scheduled_for.isoformat()],
        countdown=countdown,
    )


def send_run(run: JobRun, *, countdown: float = 0) -> bool:
    """Publish `execute_run(run_id)` (manual, retry and catch-up runs)."""
    from jobs.tasks import execute_run

    return _publish(run, execute_run, args=[str(run.id)], countdown=countdown)


def _publish(run: JobRun, task: Any, *, args: list[str], countdown: float) -> bool:
    options: dict[str, Any] = time_limits(run.job.timeout_seconds)
    if countdown and countdown > 0:
        options["countdown"] = round(countdown, 3)
    producer = _producer.get()
    if producer is not None:
        options["producer"] = producer
    try:
        task.apply_async(args=args, **options)
    except Exception as exc:
        from jobs import runs

        logger.error(
            "run %s of job %s could not be queued: %s: %s",
            run.id,
            run.job_id,
            type(exc).__name__,
            exc,
            extra={"job_id": str(run.job_id), "run_id": str(run.id), "trigger": run.trigger},
        )
        runs.finish_run(
            run,
            status=RunStatus.FAILED,
            error=f"The run could not be sent to the workers ({type(exc).__name__}: {exc}).",
            reason="not queued",
            expected=RunStatus.QUEUED,
            retry=False,
        )
        return False
    return True
