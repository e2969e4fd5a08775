"""Writes on users and their tokens."""

from __future__ import annotations

import logging
from typing import Any

from django.contrib.auth import get_user_model
from rest_framework.exceptions import AuthenticationFailed, ValidationError
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.settings import api_settings

from accounts.revocation import RevocationStoreUnavailable, revocation_of, revoke, revoke_family, revoke_once
from accounts.tokens import (
    RefreshToken,
    check_generation,
    family_expiry,
    family_of,
    generation_of,
    malformed,
    user_id_of,
)
from jobs.execution import store
from jobs.services import jobs_pause_for_deactivated_owner
from scheduler_site.errors import ServiceUnavailable

User = get_user_model()
logger = logging.getLogger(__name__)

STORE_DOWN_MESSAGE = "The token revocation store is unreachable; try again shortly."


def user_create(*, username: str, password: str, email: str = "", is_staff: bool = False) -> Any:
    if is_staff:
        return User.objects.create_superuser(username=username, email=email, password=password)
    return User.objects.create_user(username=username, email=email, password=password)


def revoke_reused(token: Any) -> AuthenticationFailed:
    """An already-rotated refresh token came back: one of its copies is stolen, so its whole family ends."""
    try:
        revoke_family(family_of(token), family_expiry())
    except RevocationStoreUnavailable as exc:
        raise ServiceUnavailable(STORE_DOWN_MESSAGE) from exc
    return AuthenticationFailed(
        "Refresh token was already used; every token of this login has been revoked.", code="token_revoked"
    )


def load_live_refresh_token(raw: str) -> RefreshToken:
    """Decode a refresh token and check it is live: not revoked, nor its family, its user active, of the
    user's current generation. Presenting an already-rotated token revokes its family (401).

    Fails closed: if the shared cache is unreachable this raises
    ServiceUnavailable (503): the rotation or revocation that follows must be
    written to the cache as well as the database (see accounts.revocation).
    """
    try:
        token = RefreshToken(raw)
    except TokenError as exc:
        raise AuthenticationFailed(str(exc), code="token_not_valid") from exc
    except (TypeError, ValueError, OverflowError) as exc:  # signed, but a claim of the wrong type
        raise malformed("claim") from exc
    user_id = user_id_of(token)
    generation_of(token)
    family = family_of(token)
    try:
        revoked, family_revoked = revocation_of(token[api_settings.JTI_CLAIM], family)
    except RevocationStoreUnavailable as exc:
        raise ServiceUnavailable(STORE_DOWN_MESSAGE) from exc
    if family_revoked:
        raise AuthenticationFailed("Token has been revoked.", code="token_revoked")
    if revoked:
        raise revoke_reused(token)
    user = None
    if user_id is not None:
        user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
    if user is None or not user.is_active:
        raise AuthenticationFailed("User is inactive or no longer exists.", code="user_inactive")
    check_generation(token, user)
    return token


def token_refresh(*, refresh: str) -> dict[str, str]:
    """Rotate a live refresh token: a new access and refresh token of the same family, the old one revoked.

    Revoking the old one is the commit point (the cache's atomic add, then the
    database insert of its unique key, which decides if the cache lost the
    entry): of two refreshes racing with the same token only one gets a new
    pair; the other is a reuse and ends the family, like any later use of the
    old token (fail closed).
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
