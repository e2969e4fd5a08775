"""Snapshots of users in the shared cache, so an authenticated API request needs no database read.

A snapshot holds what requests use (id, username, email, is_active,
is_staff, is_superuser, and the token generation every token is checked
against), never the password hash. Every save or delete of a
user through the ORM drops its snapshot (signal handlers in accounts.apps:
the one place that sees every write path, admin included), so deactivation
takes effect on the next request in every process. Snapshots expire after
SNAPSHOT_TTL seconds, which bounds staleness if a drop ever fails (the cache
unreachable at that moment but back with its data; logged as an error).

The user built from a snapshot is read-only: nothing in the API saves it.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache

logger = logging.getLogger(__name__)

SNAPSHOT_TTL = 60
FIELDS = ("username", "email", "is_active", "is_staff", "is_superuser", "token_generation")


def key(user_id: Any) -> str:
    # "2": snapshots with the token generation; those stored before it are never read.
    return f"user-snapshot:2:{user_id}"


def store(user: Any) -> None:
    data = {"id": str(user.pk), **{field: getattr(user, field) for field in FIELDS}}
    try:
        cache.set(key(user.pk), data, timeout=SNAPSHOT_TTL)
    except Exception as exc:
        logger.warning("user snapshot not stored: cache unreachable (%s)", exc)


def drop(user_id: Any) -> None:
    try:
        cache.delete(key(user_id))
    except Exception as exc:
        logger.error(
            "user snapshot of %s not dropped: cache unreachable (%s); it expires within %d s",
            user_id,
            exc,
            SNAPSHOT_TTL,
        )


def to_user(data: dict[str, Any]) -> Any:
    User = get_user_model()
    user = User(id=User._meta.pk.to_python(data["id"]), **{field: data[field] for field in FIELDS})
    user._state.adding = False
    user._from_snapshot = True
    return user
