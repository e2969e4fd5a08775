"""The scheduler benchmark's editor: a steady rate of schedule edits through `services.job_update`.

    python bench/sched_edit.py --rate 5 --duration 300 --seed 7 --out edits.jsonl

Each edit gives a random `bench-*` job a new schedule drawn from the same mix
(so the mix stays the same) and logs one JSON line: the job, the wall-clock
time just before and just after the service call, the old and new schedule
(anchor included) and the `next_run_at` the service stored. The analysis
uses these to know which slots each job should have had. Bounded: at most
rate x duration edits, and it stops at the deadline even when behind.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--duration", type=float, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scheduler_site.settings")
    import django

    django.setup()
    from bench.sched_mix import random_schedule
    from bench.sched_seed import bench_user
    from jobs import schedules, services
    from jobs.models import Job

    stop = False

    def on_term(*_: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_term)
    user = bench_user()
    ids = list(Job.objects.filter(name__startswith="bench-").order_by("name").values_list("pk", flat=True))
    rng = random.Random(args.seed)
    total = int(args.rate * args.duration)
    started = time.monotonic()
    late = 0
    print("editor ready", flush=True)
    with open(args.out, "a") as out:
        for index in range(total):
            if stop:
                break
            due = started + index / args.rate
            now = time.monotonic()
            if now < due:
                time.sleep(due - now)
            elif now - due > 1:
                late += 1
            if time.monotonic() - started > args.duration + 5:
                break
            job = Job.objects.get(pk=rng.choice(ids))
            new = random_schedule(rng, rng.randrange(1_000_000))
            old = schedules.to_dict(job.schedule)
            t0 = time.time()
            job = services.job_update(job=job, actor=user, data={"schedule": new})
            t1 = time.time()
            record = {
                "job_id": str(job.pk),
                "t0": t0,
                "t1": t1,
                "old": old,
                "new": schedules.to_dict(job.schedule),
                "next_run_at": job.next_run_at.isoformat() if job.next_run_at else None,
            }
            out.write(json.dumps(record) + "\n")
    print(f"editor done: {index + 1} edits, {late} more than 1 s behind", flush=True)


if __name__ == "__main__":
    main()
