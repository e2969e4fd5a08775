"""Helpers to read and forge JWTs in tests."""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt
from django.conf import settings


def claims_of(token: str) -> dict[str, Any]:
    """Decode and verify a token the way the service signs it."""
    return jwt.decode(token, settings.SECRET_KEY, algorithms=[settings.ALGORITHM])


def forge(user: Any, *, key: str | None = None, algorithm: str | None = None, without: Any = (), **claims: Any) -> str:
    """A token the service would accept, unless `key`, `algorithm`, `without` (claims left out) or `claims`
    say otherwise."""
    now = int(time.time())
    jti = uuid.uuid4().hex
    payload = {
        "token_type": "access",
        "exp": now + 600,
        "iat": now,
        "jti": jti,
        "user_id": str(user.pk),
        "gen": user.token_generation,
        "family": jti,
        **claims,
    }
    for claim in without:
        del payload[claim]
    algorithm = algorithm or settings.ALGORITHM
    if algorithm == "none":
        return jwt.encode(payload, None, algorithm="none")
    return jwt.encode(payload, key if key is not None else settings.SECRET_KEY, algorithm=algorithm)


def bearer(token: str) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def assert_401(response, code: str | None = None, *, www_authenticate: bool = True) -> dict[str, Any]:
    """401 in the API's error shape, with no data."""
    assert response.status_code == 401, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    if code is not None:
        assert body["error"]["code"] == code, body
    if www_authenticate:
        assert response["WWW-Authenticate"].startswith("Bearer"), response.headers
    return body["error"]
