"""Response headers every API answer needs, set in one place."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils.cache import patch_cache_control, patch_vary_headers

API_PREFIX = "/api/v1/"


class PrivateApiResponsesMiddleware:
    """`Cache-Control: private, no-store` on API answers, unless a view set its own.

    They carry one user's jobs, runs or tokens: no shared cache (a proxy, a CDN) may keep them, and a
    browser must not store them on disk. The service's own response cache (jobs.cache) is server-side
    and unaffected. `Vary: Authorization` for any cache that ignores `private`.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if request.path.startswith(API_PREFIX) and not response.has_header("Cache-Control"):
            patch_cache_control(response, private=True, no_store=True)
            patch_vary_headers(response, ("Authorization",))
        return response
