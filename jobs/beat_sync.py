"""Mirror jobs into django-celery-beat's models (owned by the execution work).

Placeholder until the execution issue lands: keeps the call sites in place.
"""

from __future__ import annotations

from typing import Any


def sync_job(job: Any) -> None:
    return None


def remove_job(job: Any) -> None:
    return None
