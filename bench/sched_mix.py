"""The scheduler benchmark's job mix: fixed, seeded, and free of Django.

Half the jobs are intervals of 10 s to 1 day (log-uniform, so short and long
intervals are equally represented per order of magnitude) with random anchors
in the last day; half are crons, a third each `*/5 * * * *`, hourly at a
random minute and daily at a random time. Time zones cycle through ten zones,
including two with half- and quarter-hour offsets. Jitter is 0.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

TIMEZONES = (
    "UTC",
    "Europe/Berlin",
    "Europe/London",
    "America/New_York",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Australia/Sydney",
)
MIN_INTERVAL = 10
MAX_INTERVAL = 86_400


@dataclass(frozen=True)
class Spec:
    name: str
    schedule: dict[str, Any]
    anchor: datetime | None  # intervals: when the job was (notionally) created


def random_schedule(rng: random.Random, index: int) -> dict[str, Any]:
    """A schedule of the mix in wire format (what the API and job_update accept)."""
    zone = TIMEZONES[index % len(TIMEZONES)]
    if index % 2 == 0:
        every = round(math.exp(rng.uniform(math.log(MIN_INTERVAL), math.log(MAX_INTERVAL))))
        return {"kind": "interval", "every": every, "unit": "seconds", "timezone": zone}
    variant = (index // 2) % 3
    if variant == 0:
        cron = "*/5 * * * *"
    elif variant == 1:
        cron = f"{rng.randrange(60)} * * * *"
    else:
        cron = f"{rng.randrange(60)} {rng.randrange(24)} * * *"
    return {"kind": "cron", "cron": cron, "timezone": zone}


def make_specs(n: int, *, seed: int, now: datetime) -> list[Spec]:
    rng = random.Random(seed)
    specs = []
    for index in range(n):
        schedule = random_schedule(rng, index)
        anchor = None
        if schedule["kind"] == "interval":
            anchor = (now - timedelta(seconds=rng.randrange(MAX_INTERVAL))).replace(microsecond=0)
        specs.append(Spec(name=f"bench-{index:06d}", schedule=schedule, anchor=anchor))
    return specs


def expected_rate(specs: list[Spec]) -> float:
    """Slots per second the mix produces on average (the steady dispatch load)."""
    rate = 0.0
    for spec in specs:
        schedule = spec.schedule
        if schedule["kind"] == "interval":
            rate += 1 / schedule["every"]
        elif schedule["cron"].startswith("*/5"):
            rate += 1 / 300
        elif schedule["cron"].endswith(" * * * *"):
            rate += 1 / 3600
        else:
            rate += 1 / 86_400
    return rate
