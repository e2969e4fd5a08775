"""Writes on users and their tokens."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.exceptions import ValidationError
from rest_framework_simplejwt.settings import api_settings

from accounts.revocation import RevocationStoreUnavailable, revoke, revoke_family, revoke_once
from accounts.tokens import STORE_DOWN_MESSAGE, family_expiry, family_of, load_live_refresh_token, revoke_reused
from jobs.execution import store
from jobs.services import jobs_pause_for_deactivated_owner
from scheduler_site.errors import ServiceUnavailable

User = get_user_model()
logger = logging.getLogger(__name__)


def user_create(*, username: str, password: str, email: str = "", is_staff: bool = False) -> Any:
    if is_staff:
        return User.objects.create_superuser(username=username, email=email, password=password)
    return User.objects.create_user(username=username, email=email, password=password)


def token_refresh(*, refresh: str) -> dict[str, str]:
    """Rotate a live refresh token: a new access and refresh token of the same family, the old one revoked.

    Revoking the old one is the commit point (an atomic add): of two refreshes
    racing with the same token only one gets a new pair; the other is a reuse
    and ends the family, like any later use of the old token (fail closed).
    """
    token = load_live_refresh_token(refresh)
    try:
        first = revoke_once(token[api_settings.JTI_CLAIM], token["exp"])
    except RevocationStoreUnavailable as exc:
        raise ServiceUnavailable(STORE_DOWN_MESSAGE) from exc
    if not first:
        raise revoke_reused(token)
    # The same claims (user, generation, family) under a new id and lifetime.
    token.set_jti()
    token.set_exp()
    token.set_iat()
    return {"access": str(token.access_token), "refresh": str(token)}


def logout(*, user: Any, refresh: str, access: Any) -> None:
    """End the login: revoke the refresh token's family (every refresh and access token of it) and the
    two tokens presented (fail closed)."""
    token = load_live_refresh_token(refresh)
    if str(token.get(api_settings.USER_ID_CLAIM)) != str(user.pk):
        raise ValidationError({"refresh": ["This refresh token belongs to another user."]})
    try:
        revoke_family(family_of(token), family_expiry())
        revoke(token[api_settings.JTI_CLAIM], token["exp"])
        if access is not None and access.get(api_settings.JTI_CLAIM):
            revoke(access[api_settings.JTI_CLAIM], access["exp"])
    except RevocationStoreUnavailable as exc:
        raise ServiceUnavailable(STORE_DOWN_MESSAGE) from exc


def user_deactivate(*, user: Any, actor: Any) -> Any:
    """Deactivate a user: their tokens end for good and their jobs are paused (events by `system`).

    The user's save bumps their token generation (accounts.models.User.save), so tokens minted
    before stay refused after a reactivation too. A `QuerySet.update(is_active=False)` would skip
    that: deactivate and reactivate through this service, `user_reactivate` or the admin.

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


def user_reactivate(*, user: Any, actor: Any) -> Any:
    """Let a deactivated user sign in again. Tokens from before stay refused (the save bumps their
    generation); jobs paused by the deactivation stay paused until staff resume them."""
    if not user.is_active:
        user.is_active = True
        user.save(update_fields=["is_active"])
        logger.info(
            "user %s reactivated by %s",
            user.get_username(),
            actor.get_username() if actor is not None else "system",
        )
    return user
