"""Publishing runs to the workers, by task name.

Every message carries the run's time limits: the soft limit is the job's
`timeout_seconds` (the run is stopped and marked `timed_out`), the hard limit
one second later kills the worker process if the action ignores the soft one
(the worker's parent then marks the run `timed_out`). Time limits need the
prefork pool, which is the worker's default.

This module only publishes. It never writes a run: what could not be sent is
returned as `Unsent`, and the caller fails those runs (through
`jobs.services.runs.publish`), so no run stays `queued` for nothing. Tasks are
named here and addressed by name, so publishing does not import the tasks
that execute them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kombu.exceptions import BatchPublishError

from jobs.models import JobRun
from scheduler_site.celery import app

logger = logging.getLogger(__name__)

#: The task that runs a claimed scheduled slot: `run_job(job_id, scheduled_for)`.
RUN_SLOT_TASK = "jobs.run_job"
#: The task that runs an existing queued run by id (manual, retry, catch-up): `execute_run(run_id)`.
RUN_TASK = "jobs.execute_run"
#: The task that tries one alert delivery (an alert to one channel): `deliver_alert(delivery_id)`.
DELIVER_ALERT_TASK = "jobs.deliver_alert"
#: The task raising `missed` alerts for slots beat recorded as missed: `alert_missed({job_id: [count, first, last]})`.
ALERT_MISSED_TASK = "jobs.alert_missed"

# Between the soft time limit (the run's timeout) and the hard kill.
HARD_LIMIT_MARGIN_SECONDS = 1

#: Messages buffered before they are written to the broker in one round trip.
FLUSH_EVERY = 500


@dataclass(frozen=True)
class Message:
    """One message to publish for a run: a task name, its arguments, and when a worker may start it.

    `eta`, when given, is that instant (a slot); otherwise `countdown` seconds after the message
    is sent (a retry's backoff). `countdown` is also what a slot's ETA was from when the message
    was built, for logs and tests.
    """

    run: JobRun
    task: str
    args: list[str]
    countdown: float = 0.0
    eta: datetime | None = None


@dataclass(frozen=True)
class Unsent:
    """A run whose message did not (certainly) reach the broker.

    `uncertain`: the write failed after the message was handed over, so it
    may have arrived after all (a worker that receives it finds the run no
    longer queued and runs nothing).
    """

    run: JobRun
    error: BaseException
    uncertain: bool = False


def slot_message(run: JobRun, *, start: datetime, now: datetime) -> Message:
    """`run_job(job_id, scheduled_for)` for a claimed scheduled run, to start at `start` (its slot plus jitter).

    The start is sent as an absolute ETA, not as a countdown: a countdown is turned into an ETA when
    each message is sent, so the messages of a batch (500 take ~0.3 s to publish) would each start
    that much later than their slot (the 100,000-job benchmark measured a steady-state p50 of 0.09 s
    and a maximum of 0.42 s that way; bench/README.md, session 10).
    """
    countdown = max(0.0, (start - now).total_seconds())
    args = [str(run.job_id), run.scheduled_for.isoformat()]
    return Message(run, RUN_SLOT_TASK, args, countdown, eta=start if countdown > 0 else None)


def run_message(run: JobRun, *, countdown: float = 0.0) -> Message:
    """`execute_run(run_id)` for a manual, retry or catch-up run."""
    return Message(run, RUN_TASK, [str(run.id)], max(0.0, countdown))


def send(task: str, args: list[Any], *, countdown: float = 0.0) -> bool:
    """Publish one message that belongs to no run; False (logged) when the broker did not take it."""
    options: dict[str, Any] = {"ignore_result": True}
    if countdown > 0:
        options["countdown"] = round(countdown, 3)
    try:
        app.send_task(task, args=args, **options)
    except Exception as exc:
        logger.error("%s%s could not be sent: %s: %s", task, args, type(exc).__name__, exc)
        return False
    return True


def time_limits(timeout_seconds: int) -> dict[str, int]:
    return {"soft_time_limit": timeout_seconds, "time_limit": timeout_seconds + HARD_LIMIT_MARGIN_SECONDS}


def publish(messages: Sequence[Message]) -> list[Unsent]:
    """Publish the messages through one producer, pipelined; returns those not (certainly) sent.

    Beat publishes thousands of messages when many jobs are due at once.
    Taking a producer from the pool for each, and one broker round trip per
    message, was most of the cost of a burst: the messages go out through
    kombu's producer batch (on Redis a non-transactional pipeline, one round
    trip per FLUSH_EVERY messages; transports without batching publish each
    at once). A single message is a batch of one.
    """
    if not messages:
        return []
    publication = _Publication()
    try:
        with app.producer_or_acquire() as producer:
            try:
                # max_size: kombu never flushes on its own; `_Publication.flush`
                # does, so it knows which runs a failed write concerns.
                with producer.batch(max_size=FLUSH_EVERY * 4) as pipeline:
                    for message in messages:
                        publication.add(producer, pipeline, message)
                    publication.flush(pipeline)
            except BatchPublishError:
                # kombu refuses to close a batch whose write failed; its runs are handled.
                if not publication.failed:
                    raise
    except Exception as exc:
        # No producer (the broker is unreachable at all), or a failure kombu did
        # not attribute to a write: what was not sent is unsent.
        publication.fail_rest(messages, exc)
    for entry in publication.unsent:
        logger.error(
            "run %s of job %s %s queued: %s: %s",
            entry.run.id,
            entry.run.job_id,
            "may not have been" if entry.uncertain else "could not be",
            type(entry.error).__name__,
            entry.error,
            extra={"job_id": str(entry.run.job_id), "run_id": str(entry.run.id), "trigger": entry.run.trigger},
        )
    return publication.unsent


class _Publication:
    """What one `publish` call has sent, buffered and failed."""

    def __init__(self) -> None:
        self.pending: list[JobRun] = []
        self.unsent: list[Unsent] = []
        self.handled: set[int] = set()  # id() of runs sent or unsent
        self.declared = False
        self.failed = False

    def add(self, producer: Any, pipeline: Any, message: Message) -> None:
        run = message.run
        options: dict[str, Any] = time_limits(run.job.timeout_seconds)
        # What celery's saferepr would make of a few short strings, without its
        # cost (a tenth of a publish): the message is the same.
        options.update(argsrepr=repr(message.args), kwargsrepr="{}", ignore_result=True, producer=producer)
        if message.eta is not None:
            options["eta"] = message.eta
        elif message.countdown > 0:
            options["countdown"] = round(message.countdown, 3)
        if self.declared:
            # The queue was declared by the first message; kombu would copy and
            # re-bind it for every message only to find it cached.
            options["declare"] = []
        try:
            app.send_task(message.task, args=message.args, **options)
        except Exception as exc:
            self._unsent([run], exc)
            return
        self.declared = True
        self.pending.append(run)
        if len(self.pending) >= FLUSH_EVERY:
            self.flush(pipeline)

    def flush(self, pipeline: Any) -> None:
        """Write the buffered messages; if that fails, their runs are unsent (uncertain)."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        try:
            pipeline.flush()
        except Exception as exc:
            self.failed = True
            self._unsent(pending, exc, uncertain=True)
            return
        self.handled.update(id(run) for run in pending)

    def fail_rest(self, messages: Sequence[Message], exc: BaseException) -> None:
        self.pending = []
        self._unsent([m.run for m in messages if id(m.run) not in self.handled], exc)

    def _unsent(self, runs: list[JobRun], exc: BaseException, *, uncertain: bool = False) -> None:
        self.unsent += [Unsent(run, exc, uncertain) for run in runs]
        self.handled.update(id(run) for run in runs)
