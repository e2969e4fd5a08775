"""Writes on users and their tokens."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.settings import api_settings

from accounts.revocation import RevocationStoreUnavailable, revoke
from accounts.serializers import load_live_refresh_token
from jobs.execution import store
from jobs.services import jobs_pause_for_deactivated_owner
from scheduler_site.errors import ServiceUnavailable

User = get_user_model()
logger = logging.getLogger(__name__)


def user_create(*, username: str, password: str, email: str = "", is_staff: bool = False) -> Any:
    if is_staff:
        return User.objects.create_superuser(username=username, email=email, password=password)
    return User.objects.create_user(username=username, email=email, password=password)


def logout(*, user: Any, refresh: str, access: Any) -> None:
    """Revoke a refresh token and the access token presented with it (fail closed)."""
    token = load_live_refresh_token(refresh)
    if str(token.get(api_settings.USER_ID_CLAIM)) != str(user.pk):
        raise ValidationError({"refresh": ["This refresh token belongs to another user."]})
    try:
        revoke(token[api_settings.JTI_CLAIM], token["exp"])
        if access is not None and access.get(api_settings.JTI_CLAIM):
            revoke(access[api_settings.JTI_CLAIM], access["exp"])
    except RevocationStoreUnavailable as exc:
        raise ServiceUnavailable("The token revocation store is unreachable; try again shortly.") from exc


def user_deactivate(*, user: Any, actor: Any) -> Any:
    """Deactivate a user: their tokens stop working and their jobs are paused (events by `system`).

    Only staff can resume those jobs (see jobs.services.job_resume).
    """
    # One transaction where the database has them. Without (a standalone
    # MongoDB server) the user is deactivated first, and running this again
    # pauses the jobs an interruption left enabled.
    with store.current().atomic():
        if user.is_active:
            user.is_active = False
            user.save(update_fields=["is_active"])
        paused = jobs_pause_for_deactivated_owner(owner=user)
    logger.info(
        "user %s deactivated by %s; %d job(s) paused",
        user.get_username(),
        actor.get_username() if actor is not None else "system",
        paused,
    )
    return user
