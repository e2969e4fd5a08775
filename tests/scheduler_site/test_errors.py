"""Every API error, whatever its status, has the body {"error": {"code", "message"[, "fields"]}}."""

from __future__ import annotations

import logging

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.test import override_settings
from django.urls import include, path
from rest_framework import serializers
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny, IsAdminUser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient

from scheduler_site import urls as site_urls
from scheduler_site.errors import Conflict, ServiceUnavailable, flatten_errors

# --- test-only views, mounted beside the real URLs -----------------------------


class StepSerializer(serializers.Serializer):
    name = serializers.CharField()


class ScheduleSerializer(serializers.Serializer):
    cron = serializers.CharField()
    timezone = serializers.CharField()


class NestedSerializer(serializers.Serializer):
    schedule = ScheduleSerializer()
    steps = StepSerializer(many=True)
    tags = serializers.ListField(child=serializers.IntegerField())


@api_view(["POST"])
@permission_classes([AllowAny])
def nested_view(request: Request) -> Response:
    serializer = NestedSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    return Response(serializer.validated_data)


@api_view(["GET"])
@permission_classes([IsAdminUser])
def staff_only_view(request: Request) -> Response:
    return Response({"secret": "staff only"})


@api_view(["POST"])
@permission_classes([AllowAny])
def conflict_view(request: Request) -> Response:
    raise Conflict("A job with that name already exists.")


@api_view(["GET"])
@permission_classes([AllowAny])
def unavailable_view(request: Request) -> Response:
    raise ServiceUnavailable()


@api_view(["GET"])
@permission_classes([AllowAny])
def drf_crash_view(request: Request) -> Response:
    raise RuntimeError("database password is hunter2")


def django_crash_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("database password is hunter2")


def django_forbidden_view(request: HttpRequest) -> HttpResponse:
    raise DjangoPermissionDenied


@api_view(["GET"])
@permission_classes([AllowAny])
def drf_django_errors_view(request: Request) -> Response:
    kind = request.query_params["raise"]
    if kind == "404":
        raise Http404("no such job: internal id 42")
    if kind == "403":
        raise DjangoPermissionDenied
    if kind == "409":
        error = DjangoValidationError({"name": ["A job with that name already exists."]})
        error.http_status = 409
        raise error
    raise DjangoValidationError({"schedule.cron": ["Expected 5 fields."], "name": ["Too long."]})


urlpatterns = [
    path("api/v1/test/nested/", nested_view),
    path("api/v1/test/staff-only/", staff_only_view),
    path("api/v1/test/conflict/", conflict_view),
    path("api/v1/test/unavailable/", unavailable_view),
    path("api/v1/test/drf-crash/", drf_crash_view),
    path("api/v1/test/django-crash/", django_crash_view),
    path("api/v1/test/django-forbidden/", django_forbidden_view),
    path("api/v1/test/django-errors/", drf_django_errors_view),
    path("", include("scheduler_site.urls")),
]
# The site's own error handlers (a test module used as ROOT_URLCONF must name them too).
handler400, handler403, handler404, handler500 = (
    site_urls.handler400,
    site_urls.handler403,
    site_urls.handler404,
    site_urls.handler500,
)

pytestmark = pytest.mark.urls(__name__)


def assert_error(response, status: int, code: str, *, fields: dict | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    error = body["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str) and error["message"]
    if fields is None:
        assert "fields" not in error
    else:
        assert error["fields"] == fields
    return error


# --- 400 -----------------------------------------------------------------------


def test_400_bad_json_body(anon, caplog):
    response = anon.post("/api/v1/token/", data="{not json", content_type="application/json")
    assert_error(response, 400, "parse_error")
    # A body that does not parse is the client's error, not a cache outage.
    assert "throttle skipped" not in caplog.text


def test_400_missing_field_names_the_field(anon):
    response = anon.post("/api/v1/token/", {"username": "alice"}, format="json")
    error = assert_error(response, 400, "validation_error", fields={"password": ["This field is required."]})
    assert error["message"] == "password: This field is required."


def test_400_body_that_is_not_an_object(anon):
    response = anon.post("/api/v1/token/", [1, 2], format="json")
    assert_error(response, 400, "validation_error", fields={"non_field_errors": [response.json()["error"]["message"]]})


def test_400_nested_validation_paths_are_dotted(anon):
    response = anon.post(
        "/api/v1/test/nested/",
        {"schedule": {"timezone": "UTC"}, "steps": [{"name": "ok"}, {}], "tags": [1, "x"]},
        format="json",
    )
    assert_error(
        response,
        400,
        "validation_error",
        fields={
            "schedule.cron": ["This field is required."],
            "steps.1.name": ["This field is required."],
            "tags.1": ["A valid integer is required."],
        },
    )


def test_400_django_validation_error_from_a_service(anon):
    assert_error(
        anon.get("/api/v1/test/django-errors/?raise=400"),
        400,
        "validation_error",
        fields={"schedule.cron": ["Expected 5 fields."], "name": ["Too long."]},
    )


def test_400_request_for_a_host_not_allowed(anon):
    assert_error(anon.get("/api/v1/me/", HTTP_HOST="evil.example"), 400, "bad_request")


def test_flatten_errors():
    detail = {"a": {"b": ["x", "y"]}, "c": [{}, {"d": ["z"]}], "e": "plain", "non_field_errors": ["n"]}
    assert flatten_errors(detail) == {"a.b": ["x", "y"], "c.1.d": ["z"], "e": ["plain"], "non_field_errors": ["n"]}
    assert flatten_errors(["top"]) == {"non_field_errors": ["top"]}


# --- 401, 403 --------------------------------------------------------------------


def test_401_without_token(anon):
    response = anon.get("/api/v1/me/")
    assert_error(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_403_non_staff_user_on_staff_only_view(api):
    response = api.get("/api/v1/test/staff-only/")
    assert_error(response, 403, "permission_denied")
    assert "staff only" not in response.content.decode()


def test_403_django_permission_denied(anon):
    assert_error(anon.get("/api/v1/test/django-errors/?raise=403"), 403, "permission_denied")
    assert_error(anon.get("/api/v1/test/django-forbidden/"), 403, "permission_denied")


def test_staff_only_view_admits_staff(staff, login):
    assert login(staff).get("/api/v1/test/staff-only/").status_code == 200


# --- 404, 405, 409, 415 ------------------------------------------------------------


def test_404_unknown_api_path_is_json(anon):
    assert_error(anon.get("/api/v1/no-such-thing/"), 404, "not_found")
    assert_error(anon.post("/api/v2/token/", {}, format="json"), 404, "not_found")


def test_404_raised_in_a_view_carries_no_internals(anon):
    response = anon.get("/api/v1/test/django-errors/?raise=404")
    assert_error(response, 404, "not_found")
    assert "internal id" not in response.content.decode()


def test_404_outside_the_api_is_not_json(anon):
    response = anon.get("/no-such-page")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


def test_405_wrong_method(anon):
    response = anon.get("/api/v1/token/")
    error = assert_error(response, 405, "method_not_allowed")
    assert "GET" in error["message"]


def test_409_conflict(anon):
    response = anon.post("/api/v1/test/conflict/", {}, format="json")
    error = assert_error(response, 409, "conflict")
    assert error["message"] == "A job with that name already exists."


def test_409_from_a_django_validation_error(anon):
    error = assert_error(anon.get("/api/v1/test/django-errors/?raise=409"), 409, "conflict")
    assert error["message"] == "A job with that name already exists."


def test_415_unsupported_media_type(anon):
    response = anon.post("/api/v1/token/", {"username": "a", "password": "b"})  # multipart
    assert_error(response, 415, "unsupported_media_type")


# --- 429 ---------------------------------------------------------------------------


@override_settings(LOGIN_FAILURES_PER_PAIR=1)
def test_429_throttled(anon):
    anon.post("/api/v1/token/", {"username": "alice", "password": "wrong"}, format="json")
    response = anon.post("/api/v1/token/", {"username": "alice", "password": "wrong"}, format="json")
    assert_error(response, 429, "throttled")
    assert int(response["Retry-After"]) > 0


# --- 500, 503 ----------------------------------------------------------------------


def test_500_in_an_api_view_carries_no_internals(caplog):
    client = APIClient(raise_request_exception=False)
    with caplog.at_level(logging.ERROR, logger="scheduler_site.errors"):
        response = client.get("/api/v1/test/drf-crash/")
    assert_error(response, 500, "server_error")
    assert "hunter2" not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    # ...but the operator finds the whole story in the log.
    assert any(record.exc_info and "hunter2" in str(record.exc_info[1]) for record in caplog.records)


def test_500_outside_drf_under_the_api_is_json_without_internals():
    client = APIClient(raise_request_exception=False)
    response = client.get("/api/v1/test/django-crash/")
    assert_error(response, 500, "server_error")
    assert "hunter2" not in response.content.decode()


def test_503_service_unavailable(anon):
    assert_error(anon.get("/api/v1/test/unavailable/"), 503, "service_unavailable")
