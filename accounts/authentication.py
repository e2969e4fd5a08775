"""JWT authentication: simplejwt's token checks, the revocation list, and a cached user snapshot.

A request with a token costs one round trip to the shared cache, which
answers both "is this token, or its login's refresh family, revoked?" and
"who is this user, are they still active, which token generation is
current?" (a snapshot of the user's row, see accounts.user_snapshots). A
token of another generation than the user's was minted before a password
change, deactivation or reactivation, and is refused (see accounts.tokens).
Only when the snapshot is missing is the database read.

Revocations are kept in the database and copied into the cache
(accounts.revocation). If the cache has lost its copy (no warm marker in the
same MGET), this token is checked against the database and the copy is
restored. If the cache is unreachable, the token is checked against the
database (one query on the revocations' key) and the user is read from the
database too, so neither revocation nor deactivation is skipped; that is logged.
"""

from __future__ import annotations

import copy
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model
from django.core.cache import cache
from rest_framework_simplejwt.authentication import JWTAuthentication
from rest_framework_simplejwt.exceptions import AuthenticationFailed, InvalidToken, TokenError
from rest_framework_simplejwt.settings import api_settings
from rest_framework_simplejwt.utils import aware_utcnow

from accounts import revocation, user_snapshots
from accounts.tokens import check_generation, family_of, generation_of, user_id_of

logger = logging.getLogger(__name__)


#: Access tokens whose signature and claims this process has verified, by their raw bytes.
_VERIFIED_MAX = 4096
_verified: OrderedDict[bytes, Any] = OrderedDict()
_verified_lock = threading.Lock()


def _verified_token(raw_token: bytes, verify: Callable[[bytes], Any]) -> Any:
    """`verify(raw_token)`, remembered: the same bytes always carry the same signed claims.

    Decoding and checking the signature was a seventh of a cached API read.
    What can change between two uses of the same token is time, so expiry is
    checked again on every use; revocation and the user's state are checked
    per request by the caller. Each caller gets its own copy of the token.
    """
    with _verified_lock:
        token = _verified.get(raw_token)
        if token is not None:
            _verified.move_to_end(raw_token)
    if token is None:
        token = verify(raw_token)
        with _verified_lock:
            _verified[raw_token] = token
            while len(_verified) > _VERIFIED_MAX:
                _verified.popitem(last=False)
    else:
        token = copy.copy(token)
        token.current_time = aware_utcnow()
        try:
            token.check_exp()
        except TokenError:
            with _verified_lock:
                _verified.pop(raw_token, None)
            return verify(raw_token)  # raises the same error as for a token never seen
    return copy.copy(token)


class RevocableJWTAuthentication(JWTAuthentication):
    """simplejwt's checks, plus revocation and the user snapshot in one cache round trip.

    A view may add keys to that round trip: `request.cache_prefetch(user_id)`
    returns them, and their values (None when absent) are left in
    `request.cache_prefetched` for the view to use once authentication has
    passed (the jobs API reads its cached response this way).
    """

    def authenticate(self, request: Any) -> Any:
        self._request = request  # DRF makes one authenticator per request
        return super().authenticate(request)

    def get_validated_token(self, raw_token: bytes) -> Any:
        try:
            token = _verified_token(bytes(raw_token), super().get_validated_token)
        except (TypeError, ValueError, OverflowError) as exc:
            # A signed token whose claims have the wrong type (e.g. `exp` as a string): simplejwt
            # raises these from its checks instead of a TokenError.
            raise InvalidToken({"detail": "Token has malformed claims.", "code": "token_not_valid"}) from exc
        user_id = user_id_of(token)
        generation_of(token)  # checked against the user in get_user(); a malformed one is 401 now
        family = family_of(token)
        jti = token.get(api_settings.JTI_CLAIM)
        keys = revocation.check_keys(jti, family)
        if user_id is not None:
            keys.append(user_snapshots.key(user_id))
        request = getattr(self, "_request", None)
        prefetch = getattr(request, "cache_prefetch", None)
        extra = list(prefetch(user_id)) if prefetch is not None and user_id is not None else []
        try:
            found = cache.get_many(keys + extra)
        except Exception as exc:  # unreachable cache: the database answers
            logger.warning("token revocation checked against the database: cache unreachable (%s)", exc)
            found = None
        if found is None:
            revoked, family_revoked = revocation.revoked_in_database(jti, family)
        else:
            revoked, family_revoked = revocation.revocation_from(found, jti, family)
        if revoked or family_revoked:
            raise InvalidToken({"detail": "Token has been revoked.", "code": "token_revoked"})
        if found is not None and extra:
            request.cache_prefetched = {key: found.get(key) for key in extra}
        # Handed to get_user() below (same request, same thread).
        token._cached_snapshot = None if found is None else found.get(user_snapshots.key(user_id))
        token._cache_reachable = found is not None
        return token

    def get_user(self, validated_token: Any) -> Any:
        user_id = user_id_of(validated_token)
        if user_id is None:
            raise InvalidToken({"detail": "Token contained no recognizable user identification.", "code": "no_user"})
        snapshot = getattr(validated_token, "_cached_snapshot", None)
        if snapshot is not None:
            user = user_snapshots.to_user(snapshot)
        else:
            user = get_user_model().objects.filter(**{api_settings.USER_ID_FIELD: user_id}).first()
            if user is None:
                raise AuthenticationFailed("User not found.", code="user_not_found")
            if getattr(validated_token, "_cache_reachable", False):
                user_snapshots.store(user)
        if not user.is_active:
            raise AuthenticationFailed("User is inactive.", code="user_inactive")
        check_generation(validated_token, user)
        return user
