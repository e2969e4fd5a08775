"""Throttles for token obtain: strict per username, generous per client address."""

from __future__ import annotations

import logging

from django.conf import settings
from rest_framework.exceptions import APIException
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle

logger = logging.getLogger(__name__)


class FailOpenThrottle(SimpleRateThrottle):
    """A throttle whose rate is a setting, and which lets requests through while the cache is unreachable."""

    setting_name = ""

    def get_rate(self) -> str:
        return getattr(settings, self.setting_name)

    def allow_request(self, request: Request, view: object) -> bool:
        try:
            return super().allow_request(request, view)
        except APIException:
            raise  # e.g. a body that does not parse: the client's error, not the cache's
        except Exception as exc:  # cache unreachable: don't lock everyone out
            logger.warning("%s throttle skipped: cache unreachable (%s)", self.scope, exc)
            return True


class LoginUsernameThrottle(FailOpenThrottle):
    scope = "login-username"
    setting_name = "LOGIN_RATE_PER_USERNAME"

    def get_cache_key(self, request: Request, view: object) -> str | None:
        username = request.data.get("username") if hasattr(request.data, "get") else None
        if isinstance(username, (int, float)) and not isinstance(username, bool):
            username = str(username)  # the serializer's CharField accepts numbers too
        if not isinstance(username, str) or not username.strip():
            return None
        return self.cache_format % {"scope": self.scope, "ident": username.strip().lower()[:150]}


class LoginAddressThrottle(FailOpenThrottle):
    scope = "login-address"
    setting_name = "LOGIN_RATE_PER_IP"

    def get_cache_key(self, request: Request, view: object) -> str:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}
