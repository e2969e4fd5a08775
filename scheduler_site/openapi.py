"""How the OpenAPI schema (drf-spectacular) describes the API: the error answers and closed request shapes.

Every operation's error answers follow from what it is, the same way for
every view, so they are added here rather than listed by hand on each:
a body or query parameters can be invalid (400), a protected operation can
be refused (401, 403), a path names something that may not exist (404), as
may a page past the last one, a body can be too large (413) or not JSON
(415), and a throttled operation can answer 429. Views still list the
answers that are particular to them (a 409, a 503), with their own text.

A request serializer decorated with `closed` rejects keys it does not know,
so its schema says `additionalProperties: false`; keys it accepts and ignores
(the read-only fields of a representation sent back) are listed as such.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny

T = TypeVar("T", bound=type)


# --- the one error shape (scheduler_site.errors), as documented ---------------------------


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="Stable snake_case code, e.g. `validation_error`, `not_found`.")
    message = serializers.CharField(help_text="One human sentence.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Validation errors only: messages by dotted field path, e.g. `schedule.cron`.",
    )


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def error_response(description: str) -> OpenApiResponse:
    """A documented error answer: the error shape, with what it means for this operation."""
    return OpenApiResponse(ErrorSerializer, description=f"{description} (error shape).")


GENERIC_ERRORS = {
    "400": "Invalid input (body or query parameters); `fields` names each problem by dotted path",
    "401": "Missing, invalid, expired or revoked token, or the user is inactive",
    "403": "Not allowed",
    "404": "No such resource, or it belongs to another user",
    "404-page": "A page past the last one",
    "413": "The request body is larger than MAX_REQUEST_BODY_BYTES",
    "415": "The request body is not JSON (`Content-Type: application/json`)",
    "429": "Too many requests of this kind; `Retry-After` says when to retry",
}


# --- closed request shapes ------------------------------------------------------------------


def closed(cls: T | None = None, *, ignored: Iterable[str] = ()) -> Any:
    """Mark a request serializer whose view answers 400 to any key it does not declare.

    `ignored`: keys accepted and ignored (e.g. read-only fields sent back), documented as such.
    """

    def mark(serializer_class: T) -> T:
        serializer_class.closed_shape = True
        serializer_class.ignored_keys = tuple(sorted(ignored))
        return serializer_class

    return mark(cls) if cls is not None else mark


class SchedulerAutoSchema(AutoSchema):
    def _map_basic_serializer(self, serializer: Any, direction: str) -> dict[str, Any]:
        schema = super()._map_basic_serializer(serializer, direction)
        if direction == "request" and getattr(serializer, "closed_shape", False):
            properties = schema.setdefault("properties", {})
            for key in serializer.ignored_keys:
                properties.setdefault(key, {"description": "Read-only: accepted and ignored."})
            schema["additionalProperties"] = False
        return schema

    def _get_parameters(self) -> list[dict[str, Any]]:
        parameters = super()._get_parameters()
        for parameter in parameters:
            schema = parameter.get("schema", {})
            if parameter["in"] == "query" and schema.get("type") == "array":
                # `ordering=` (no keys) is a 400 like any other empty parameter.
                schema.setdefault("minItems", 1)
        return parameters

    def _get_response_bodies(self, direction: str = "response") -> dict[str, Any]:
        responses = super()._get_response_bodies(direction)
        for code, description in self._error_answers().items():
            if code not in responses:
                responses[code] = self._get_response_for_code(error_response(description), code, direction=direction)
            elif not responses[code].get("content"):
                # Listed by a view without a body: every error answer has the error shape.
                described = responses[code].get("description") or description
                responses[code] = self._get_response_for_code(
                    error_response(described.removesuffix(" (error shape).")), code, direction=direction
                )
        if "429" in responses:
            responses["429"].setdefault("headers", {})["Retry-After"] = {
                "schema": {"type": "integer", "minimum": 0},
                "description": "Seconds until a request of this kind is accepted again.",
            }
        return dict(sorted(responses.items()))

    def _error_answers(self) -> dict[str, str]:
        answers: dict[str, str] = {}
        has_body = self.method in ("POST", "PUT", "PATCH") and self.get_request_serializer() is not None
        has_query = any(parameter["in"] == "query" for parameter in self._get_parameters())
        if has_body or has_query:
            answers["400"] = GENERIC_ERRORS["400"]
        if any(not isinstance(permission, AllowAny) for permission in self.view.get_permissions()):
            answers["401"] = GENERIC_ERRORS["401"]
            answers["403"] = GENERIC_ERRORS["403"]
        if "{" in self.path:
            answers["404"] = GENERIC_ERRORS["404"]
        elif self._is_list_view() and self._get_paginator() is not None:
            answers["404"] = GENERIC_ERRORS["404-page"]
        if has_body:
            answers["413"] = GENERIC_ERRORS["413"]
            answers["415"] = GENERIC_ERRORS["415"]
        if self.view.get_throttles():
            answers["429"] = GENERIC_ERRORS["429"]
        return answers
