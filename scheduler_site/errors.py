"""The API's one error shape, and the exceptions that map onto it.

Every error response of the API has the body
    {"error": {"code": "<snake_case>", "message": "<one sentence>", "fields": {...}}}
with `fields` only for validation errors (dotted paths, e.g. `schedule.cron`).
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger("scheduler_site.errors")


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request depends on is unavailable; try again shortly."
    default_code = "service_unavailable"


class RequestTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "request_too_large"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


_DEFAULT_CODES = {
    400: "validation_error",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "service_unavailable",
}


def error_body(code: str, message: str, fields: dict[str, list[str]] | None = None) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    return {"error": error}


def flatten_errors(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """Turn DRF's nested error detail into {"dotted.path": [messages]}."""
    out: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            for sub_path, messages in flatten_errors(value, path).items():
                out.setdefault(sub_path, []).extend(messages)
    elif isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            out[prefix or "non_field_errors"] = [str(item) for item in detail]
        else:
            for index, item in enumerate(detail):
                path = f"{prefix}.{index}" if prefix else str(index)
                for sub_path, messages in flatten_errors(item, path).items():
                    out.setdefault(sub_path, []).extend(messages)
    else:
        out[prefix or "non_field_errors"] = [str(detail)]
    return out


def _first_code(exc: exceptions.APIException) -> str | None:
    codes = exc.get_codes()
    while isinstance(codes, (dict, list)):
        if not codes:
            return None
        codes = next(iter(codes.values())) if isinstance(codes, dict) else codes[0]
    return codes


def validation_error_from_django(exc: DjangoValidationError) -> exceptions.APIException:
    """Services raise Django's ValidationError (the admin's forms understand it too).

    Its message_dict keys may be dotted paths (`schedule.cron`). A subclass
    may set `http_status = 409` (e.g. a duplicate name) and `code`.
    """
    fields = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
    status_code = getattr(exc, "http_status", 400)
    if status_code == 409:
        first = next(iter(fields.values()))[0]
        return Conflict(first, code=getattr(exc, "error_code", "conflict"))
    return exceptions.ValidationError(fields)


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, DjangoValidationError):
        exc = validation_error_from_django(exc)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = RequestTooLarge(
            f"The request body is larger than {settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes (MAX_REQUEST_BODY_BYTES)."
        )

    if not isinstance(exc, exceptions.APIException):
        # Anything unexpected: log it with its traceback, answer without internals.
        request = context.get("request")
        logger.error(
            "unhandled error in %s %s",
            getattr(request, "method", "?"),
            getattr(request, "path", "?"),
            exc_info=exc,
        )
        return Response(
            error_body("server_error", "An unexpected error occurred; it has been logged."),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    response = drf_exception_handler(exc, context)
    assert response is not None  # DRF handles every APIException
    status_code = response.status_code
    if isinstance(exc, exceptions.ValidationError):
        fields = flatten_errors(exc.detail)
        first_path, first_messages = next(iter(fields.items()), ("", ["Invalid input."]))
        message = first_messages[0]
        if first_path and first_path != "non_field_errors":
            message = f"{first_path}: {message}"
        code = "validation_error"
        response.data = error_body(code, message, fields)
    else:
        detail = exc.detail
        if isinstance(detail, dict):
            # simplejwt's InvalidToken carries {"detail", "code", "messages"}.
            message = str(detail.get("detail") or next(iter(detail.values()), ""))
            code = str(detail.get("code") or _DEFAULT_CODES.get(status_code, "error"))
        elif isinstance(detail, list):
            message = str(detail[0]) if detail else ""
            code = _first_code(exc) or _DEFAULT_CODES.get(status_code, "error")
        else:
            message = str(detail)
            code = _first_code(exc) or _DEFAULT_CODES.get(status_code, "error")
        if code in {"invalid", "error"}:
            code = _DEFAULT_CODES.get(status_code, code)
        if isinstance(exc, exceptions.Throttled):
            code = "throttled"
            message = f"Too many requests; retry in {exc.wait:.0f} seconds." if exc.wait else message
        response.data = error_body(code, message)
    return response


def _wants_json(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    # Reached for errors Django raises before any view runs, e.g. a Host not in ALLOWED_HOSTS.
    if _wants_json(request):
        return JsonResponse(error_body("bad_request", "The request could not be understood."), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception)


def handler403(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("permission_denied", "You do not have permission to do this."), status=403)
    if request.path.startswith("/admin/") and getattr(getattr(request, "user", None), "is_staff", False):
        # Inside the admin a refusal keeps the admin's header, breadcrumbs and navigation.
        from django.contrib import admin
        from django.shortcuts import render

        context = {**admin.site.each_context(request), "title": "Permission denied", "subtitle": None}
        return render(request, "admin/403.html", context, status=403)
    from django.views.defaults import permission_denied

    return permission_denied(request, exception)


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("not_found", "No such resource."), status=404)
    from django.views.defaults import page_not_found

    return page_not_found(request, exception)


def handler500(request: HttpRequest) -> HttpResponse:
    if _wants_json(request):
        return JsonResponse(error_body("server_error", "An unexpected error occurred; it has been logged."), status=500)
    from django.views.defaults import server_error

    return server_error(request)
