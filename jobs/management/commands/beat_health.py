"""`manage.py beat_health [--max-age 60]`: exit 0 only if beat ticked recently (the compose healthcheck)."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from jobs.beat import lease, partitions
from scheduler_site import metrics


class Command(BaseCommand):
    help = "Succeed if the beat scheduler recorded a tick within --max-age seconds; fail (exit 1) otherwise."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--max-age", type=float, default=60.0, metavar="SECONDS", help="Default 60.")

    def handle(self, *args: Any, max_age: float, **options: Any) -> None:
        try:
            last = metrics.beat_last_tick()
        except Exception as exc:
            raise CommandError(f"beat's last tick is unknown: the cache is unreachable ({type(exc).__name__})") from exc
        if last is None:
            raise CommandError("beat has not recorded a tick yet")
        age = time.time() - last
        if age > max_age:
            raise CommandError(f"beat's last tick was {age:.0f} s ago (more than {max_age:g} s)")
        self.stdout.write(f"beat ticked {age:.1f} s ago; {_active_beat()}")


def _active_beat() -> str:
    """Which beat holds the lease, for the operator reading the check's output (never fails the check)."""
    try:
        if settings.JOBS_BEAT_PARTITIONS > 1:
            return _partition_holders()
        state = lease.current_state()
    except DatabaseError as exc:
        return f"active beat unknown (database: {type(exc).__name__})"
    if state is None or not state.holder:
        return "no beat holds the lease"
    return f"active beat {state.holder} (lease generation {state.generation})"


def _partition_holders() -> str:
    """Each partition's holder (jobs/beat/partitions.py), e.g. "partitions: 0/2 host-a:1:ab (generation 1), ..."."""
    shares = [
        f"{share.partition} {share.lease.holder} (generation {share.lease.generation})"
        if share.lease is not None and share.lease.holder
        else f"{share.partition} no beat"
        for share in partitions.current_states()
    ]
    return "partitions: " + ", ".join(shares)
