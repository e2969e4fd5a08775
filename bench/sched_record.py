"""The scheduler benchmark's consumer: drains the `celery` queue and only records.

    python bench/sched_record.py --broker redis://127.0.0.1:6379/3 --out records.tsv --max-seconds 900

One line per message: task name, job id, scheduled_for (empty when the
message has none, as with the stock scheduler), published-at (the
`bench_published_at` header stamped in beat), received-at, the message's ETA
(empty without one) and whether it started its run. Nothing is run.

With --finish-runs (the project's scheduler), the recorder acts as a worker
would, at the message's ETA (beat claims slots ahead and publishes them with
the slot as ETA): the run behind the message goes `queued → succeeded` only
if it is still queued, so a message whose run was withdrawn (an edit before
its slot) or that another message already started is recorded as not
starting it (`0`). That also keeps a job with the default overlap policy
(`skip`) from being skipped because its previous run still looks `queued`.
Without --finish-runs the last column is empty.
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import os
import signal
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FINISH_EVERY = 0.25


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--broker", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--max-seconds", type=float, default=900)
    parser.add_argument("--finish-runs", action="store_true")
    args = parser.parse_args()

    from kombu import Connection, Consumer, Queue

    finish = _RunFinisher() if args.finish_runs else None
    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    deadline = time.monotonic() + args.max_seconds
    out = open(args.out, "a", buffering=1 << 16)  # noqa: SIM115

    def on_message(body: Any, message: Any) -> None:
        received = time.time()
        headers = message.headers or {}
        task = headers.get("task", "")
        call_args, call_kwargs = (body[0], body[1]) if isinstance(body, list | tuple) else ([], {})
        job_id = call_kwargs.get("job_id", call_args[0] if call_args else "")
        slot = call_kwargs.get("scheduled_for", call_args[1] if len(call_args) > 1 else "") or ""
        published = headers.get("bench_published_at", "")
        eta = headers.get("eta") or ""
        line = f"{task}\t{job_id}\t{slot}\t{published}\t{received}\t{eta}"
        message.ack()
        if finish is not None and task == "jobs.run_job" and slot:
            start_at = max(received, datetime.fromisoformat(eta).timestamp()) if eta else received
            finish.add(job_id, slot, line, start_at=start_at)
        else:
            out.write(f"{line}\t\n")

    with Connection(args.broker) as conn:
        queue = Queue("celery", routing_key="celery")
        with Consumer(conn, queues=[queue], callbacks=[on_message], accept=["json"], prefetch_count=1000):
            print("recorder ready", flush=True)
            while not stop and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0.2)
                if finish is not None:
                    finish.maybe_flush(out)
    if finish is not None:
        finish.flush(out, everything=True)
    out.close()


class _RunFinisher:
    """Starts (and at once ends) the runs of recorded messages at their ETA, one query pair per batch."""

    def __init__(self) -> None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_site.settings")
        import django

        django.setup()
        # (start at, arrival order, claim key, job id, line)
        self.waiting: list[tuple[float, int, str, str, str]] = []
        self.arrivals = 0
        self.flushed = time.monotonic()

    def add(self, job_id: str, slot: str, line: str, *, start_at: float) -> None:
        from jobs.execution.claims import claim_key

        key = claim_key(job_id, datetime.fromisoformat(slot))
        self.arrivals += 1
        heapq.heappush(self.waiting, (start_at, self.arrivals, key, job_id, line))

    def maybe_flush(self, out: Any) -> None:
        if self.waiting and time.monotonic() - self.flushed >= FINISH_EVERY:
            self.flush(out)

    def flush(self, out: Any, *, everything: bool = False) -> None:
        from django.utils import timezone

        from jobs.models import JobRun, RunStatus

        self.flushed = time.monotonic()
        now = time.time()
        ready = []
        while self.waiting and (everything or self.waiting[0][0] <= now):
            ready.append(heapq.heappop(self.waiting))
        if not ready:
            return
        if everything:
            # Stopping: messages whose ETA has not come are recorded as not started ("-").
            due = [entry for entry in ready if entry[0] <= now]
            for *_, line in (entry for entry in ready if entry[0] > now):
                out.write(f"{line}\t-\n")
            ready = due
        keys = list({key for _, _, key, _, _ in ready})
        # By job too, as the app looks claims up (a claim key is unique per job).
        job_ids = list({job_id for _, _, _, job_id, _ in ready})
        runs = JobRun.objects.filter(job_id__in=job_ids, status=RunStatus.QUEUED)
        queued = set(runs.filter(claim_key__in=keys).values_list("claim_key", flat=True))
        if queued:
            runs.filter(claim_key__in=queued).update(status=RunStatus.SUCCEEDED, finished_at=timezone.now())
        for _, _, key, _, line in ready:
            started = key in queued
            queued.discard(key)  # a second message for the same run starts nothing
            out.write(f"{line}\t{int(started)}\n")


if __name__ == "__main__":
    main()
