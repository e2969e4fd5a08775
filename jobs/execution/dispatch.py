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

from kombu.exceptions import BatchPublishError

from jobs.models import JobRun, RunStatus

logger = logging.getLogger(__name__)

# Between the soft time limit (the run's timeout) and the hard kill.
HARD_LIMIT_MARGIN_SECONDS = 1

#: Messages buffered in a batch before they are written to the broker.
FLUSH_EVERY = 500


class _Batch:
    """The producer of the current `batch()`, and the runs published through it but not yet flushed."""

    def __init__(self, producer: Any, pipeline: Any) -> None:
        self.producer = producer
        self.pipeline = pipeline
        self.pending: list[JobRun] = []
        self.declared = False
        self.failed = False

    def flush(self) -> None:
        """Write the buffered messages; if that fails, their runs are failed, not left queued."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        try:
            self.pipeline.flush()
        except Exception as exc:
            self.failed = True
            # Some of the messages may have reached the broker: a worker that
            # receives one finds its run no longer queued and runs nothing.
            _not_queued(pending, exc, uncertain=True)


_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar("dispatch_batch", default=None)


@contextlib.contextmanager
def batch() -> Iterator[None]:
    """Publish everything sent inside the block through one producer, pipelined.

    Beat publishes thousands of messages when many jobs are due at once.
    Taking a producer from the pool for each one, and one broker round trip
    per message, was most of the cost of a burst. Inside a batch the
    messages go out through kombu's producer batch (on Redis: a
    non-transactional pipeline, one round trip per FLUSH_EVERY messages; on
    transports without batching, as before, one at a time). A run whose
    message was buffered but not written (the flush failed, or the block
    raised) is marked `failed`, exactly like a run whose publish failed.
    """
    from jobs.tasks import run_job

    if _batch.get() is not None:
        yield
        return
    state: _Batch | None = None
    with run_job.app.producer_or_acquire() as producer:
        try:
            # max_size: kombu never flushes on its own; `_Batch.flush` does,
            # so it knows which runs a failed write concerns.
            with producer.batch(max_size=FLUSH_EVERY * 4) as pipeline:
                state = _Batch(producer, pipeline)
                token = _batch.set(state)
                try:
                    yield
                except BaseException as exc:
                    # kombu discards what was not written.
                    pending, state.pending = state.pending, []
                    try:
                        _not_queued(pending, exc)
                    except Exception:
                        logger.exception("could not mark %d unsent runs failed", len(pending))
                    raise
                else:
                    state.flush()
                finally:
                    _batch.reset(token)
        except BatchPublishError:
            # kombu refuses to close a batch whose write failed; its runs are handled.
            if state is None or not state.failed:
                raise


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
    # What celery's saferepr would make of a few short strings, without its
    # cost (a tenth of a publish): the message is the same.
    options.update(argsrepr=repr(args), kwargsrepr="{}")
    if countdown and countdown > 0:
        options["countdown"] = round(countdown, 3)
    state = _batch.get()
    if state is not None:
        options["producer"] = state.producer
        if state.declared:
            # The queue was declared by the batch's first message; kombu would
            # copy and re-bind it for every message only to find it cached.
            options["declare"] = []
    try:
        task.apply_async(args=args, **options)
    except Exception as exc:
        _not_queued([run], exc)
        return False
    if state is not None:
        state.declared = True
        state.pending.append(run)
        if len(state.pending) >= FLUSH_EVERY:
            state.flush()
    return True


def _not_queued(runs_: list[JobRun], exc: BaseException, *, uncertain: bool = False) -> None:
    """Fail runs whose message did not (certainly) reach the broker, so none stays `queued` for nothing."""
    from jobs.execution import runs

    what = "may not have been" if uncertain else "could not be"
    for run in runs_:
        logger.error(
            "run %s of job %s %s queued: %s: %s",
            run.id,
            run.job_id,
            what,
            type(exc).__name__,
            exc,
            extra={"job_id": str(run.job_id), "run_id": str(run.id), "trigger": run.trigger},
        )
        runs.finish_run(
            run,
            status=RunStatus.FAILED,
            error=f"The run {what} sent to the workers ({type(exc).__name__}: {exc}).",
            reason="not queued",
            expected=RunStatus.QUEUED,
            retry=False,
        )
