"""Periodic work on accounts, scheduled as system tasks in settings.CELERY_BEAT_SCHEDULE."""

from __future__ import annotations

from celery import shared_task

from accounts import revocation


@shared_task(name="accounts.prune_revocations", ignore_result=True)
def prune_revocations() -> int:
    """Delete revocations whose tokens have all expired: SQL has no TTL index (MongoDB's deletes them too)."""
    return revocation.prune()
