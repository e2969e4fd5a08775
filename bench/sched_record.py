"""The scheduler benchmark's consumer: drains the `celery` queue and only records.

    python bench/sched_record.py --broker redis://127.0.0.1:6379/3 --out records.tsv --max-seconds 900

One line per message: task name, job id, scheduled_for (empty when the
message has none, as with the stock scheduler), published-at (the
`bench_published_at` header stamped in beat), received-at. Nothing is run.

With --finish-runs (the project's scheduler), the runs behind the recorded
messages are marked `succeeded` in batches, as a worker would, so a job with
the default overlap policy (`skip`) is not skipped because its previous run
still looks `queued`.
"""

from __future__ import annotations

import argparse
import contextlib
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
        out.write(f"{task}\t{job_id}\t{slot}\t{published}\t{received}\t{headers.get('eta') or ''}\n")
        message.ack()
        if finish is not None and task == "jobs.run_job" and slot:
            finish.add(job_id, slot)

    with Connection(args.broker) as conn:
        queue = Queue("celery", routing_key="celery")
        with Consumer(conn, queues=[queue], callbacks=[on_message], accept=["json"], prefetch_count=1000):
            print("recorder ready", flush=True)
            while not stop and time.monotonic() < deadline:
                with contextlib.suppress(TimeoutError):
                    conn.drain_events(timeout=0.2)
                if finish is not None:
                    finish.maybe_flush()
    if finish is not None:
        finish.flush()
    out.close()


class _RunFinisher:
    """Marks recorded runs `succeeded`, one UPDATE per batch."""

    def __init__(self) -> None:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_site.settings")
        import django

        django.setup()
        self.keys: list[str] = []
        self.flushed = time.monotonic()

    def add(self, job_id: str, slot: str) -> None:
        from jobs.models import JobRun, RunTrigger

        self.keys.append(JobRun.make_claim_key(job_id, datetime.fromisoformat(slot), RunTrigger.SCHEDULE, 1))

    def maybe_flush(self) -> None:
        if self.keys and time.monotonic() - self.flushed >= FINISH_EVERY:
            self.flush()

    def flush(self) -> None:
        from django.utils import timezone

        from jobs.models import JobRun, RunStatus

        keys, self.keys = self.keys, []
        self.flushed = time.monotonic()
        if keys:
            JobRun.objects.filter(claim_key__in=keys, status=RunStatus.QUEUED).update(
                status=RunStatus.SUCCEEDED, finished_at=timezone.now()
            )


if __name__ == "__main__":
    main()
