"""A registered task that ignores Celery's soft time limit.

Loaded only into the e2e workers (`--include`); the test process registers a
stand-in for validation only, so other tests never see it.
"""

from __future__ import annotations

import contextlib
import time

from celery.exceptions import SoftTimeLimitExceeded

from jobs.execution.registry import register


@register("e2e_ignores_soft_limit")
def ignores_soft_limit(seconds: float = 30) -> str:
    """Keep sleeping through the soft time limit: only the hard limit stops it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(SoftTimeLimitExceeded):
            time.sleep(0.05)
    return "survived"
