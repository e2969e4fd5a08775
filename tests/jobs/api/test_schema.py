"""The OpenAPI schema at /api/schema/ describes every endpoint under /api/v1/, accurately."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from drf_spectacular.validation import validate_schema

from jobs import services
from tests.jobs.api.conftest import assert_error, http_action

# Deliberately left out of the schema: the benchmarks' no-op view.
UNDOCUMENTED = {"/api/v1/ping/"}


@pytest.fixture
def schema(anon, db) -> dict[str, Any]:
    response = anon.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def _openapi_path(regex: str) -> str:
    path = regex.lstrip("^").rstrip("$").replace("\\Z", "").replace("\\.", ".")
    path = re.sub(r"\(\?P<(\w+)>[^)]*\)", r"{\1}", path)
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", path)
    return "/" + path.replace("{pk}", "{id}")  # drf-spectacular names primary keys `id`


def _walk(patterns: list[Any], prefix: str = "") -> list[tuple[str, Any]]:
    found = []
    for pattern in patterns:
        here = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += _walk(pattern.url_patterns, here)
        elif isinstance(pattern, URLPattern):
            found.append((_openapi_path(here.replace("^", "").replace("$", "")), pattern.callback))
    return found


def _methods(callback: Any) -> set[str]:
    if getattr(callback, "actions", None):  # a viewset route: its method -> action map
        methods = set(callback.actions)
    else:
        view = callback.view_class
        methods = {m for m in view.http_method_names if hasattr(view, m)}
    return methods - {"head", "options"}  # implied by GET / answered by DRF itself


def api_v1_endpoints() -> dict[str, set[str]]:
    endpoints: dict[str, set[str]] = {}
    for path, callback in _walk(get_resolver().url_patterns):
        if path.startswith("/api/v1/") and path not in UNDOCUMENTED:
            endpoints.setdefault(path, set()).update(_methods(callback))
    return endpoints


def test_every_api_v1_endpoint_and_method_is_in_the_schema(schema):
    endpoints = api_v1_endpoints()
    assert "/api/v1/jobs/{id}/runs/" in endpoints and "/api/v1/schedules/preview/" in endpoints
    for path, methods in endpoints.items():
        assert path in schema["paths"], f"{path} is not described"
        assert methods <= set(schema["paths"][path]), f"{path}: {methods - set(schema['paths'][path])} missing"


def test_the_schema_validates_against_the_openapi_specification(schema):
    validate_schema(schema)


def test_the_schema_generates_without_a_single_warning(tmp_path):
    # Fails on any warning (an unresolvable field, a guessed type, an enum clash...).
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(tmp_path / "schema.yaml"))


def test_job_operations_document_their_errors_in_the_error_shape(schema):
    for path, operations in schema["paths"].items():
        if not path.startswith(("/api/v1/jobs/", "/api/v1/schedules/")):
            continue
        for method, operation in operations.items():
            responses = operation["responses"]
            assert any(code.startswith("2") for code in responses), (path, method)
            assert "401" in responses, (path, method)
            if "{id}" in path:
                assert "404" in responses, (path, method)
            if method in ("post", "put", "patch") and operation.get("requestBody"):
                assert "400" in responses, (path, method)
            for code, response in responses.items():
                if code.startswith(("4", "5")):
                    ref = response["content"]["application/json"]["schema"]["$ref"]
                    assert ref == "#/components/schemas/Error", (path, method, code)
    create = schema["paths"]["/api/v1/jobs/"]["post"]["responses"]
    assert set(create) == {"201", "400", "401", "403", "409", "413", "415", "429"}
    assert set(schema["paths"]["/api/v1/jobs/{id}/run/"]["post"]["responses"]) >= {"202", "404"}
    assert "204" in schema["paths"]["/api/v1/jobs/{id}/"]["delete"]["responses"]


def test_list_documents_pagination_filters_and_the_cache_header(schema):
    operation = schema["paths"]["/api/v1/jobs/"]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert {"page", "page_size", "enabled", "last_status", "schedule_kind", "search", "ordering"} <= set(params)
    assert params["page_size"]["schema"]["maximum"] == 200
    assert operation["responses"]["200"]["headers"]["X-Cache"]["schema"]["enum"] == ["hit", "miss"]
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    assert ref == "#/components/schemas/PaginatedJobList"


def _component(schema, name):
    return schema["components"]["schemas"][name]


def test_responses_match_their_components(schema, api, user):
    job = services.job_create(
        owner=user,
        actor=user,
        data={"name": "x", "schedule": {"phrase": "every 15 minutes"}, "action": http_action()},
    )
    api.post(f"/api/v1/jobs/{job.pk}/run/")
    body = api.get(f"/api/v1/jobs/{job.pk}/").json()
    run = api.get(f"/api/v1/jobs/{job.pk}/runs/").json()["results"][0]
    event = api.get(f"/api/v1/jobs/{job.pk}/events/").json()["results"][0]
    preview = api.post("/api/v1/schedules/preview/", {"schedule": {"phrase": "every hour"}}, format="json").json()

    for name, data in [
        ("Job", body),
        ("Schedule", body["schedule"]),
        ("HttpAction", body["action"]),
        ("JobRun", run),
        ("JobEvent", event),
        ("SchedulePreview", preview),
        ("Schedule", preview["schedule"]),
    ]:
        component = _component(schema, name)
        assert set(data) <= set(component["properties"]), (name, set(data) - set(component["properties"]))
        assert set(component.get("required", [])) <= set(data), name


def test_request_components_list_what_the_api_accepts(schema):
    write = _component(schema, "JobWriteRequest")
    assert set(write["required"]) == {"name", "schedule", "action"}
    assert "required" not in _component(schema, "PatchedJobChangeRequest")
    assert _component(schema, "ActionInputRequest")["discriminator"]["propertyName"] == "type"


def test_request_shapes_are_closed_where_unknown_keys_are_a_400(schema):
    for name in (
        "JobWriteRequest",
        "PatchedJobChangeRequest",
        "HttpActionInputRequest",
        "TaskActionInputRequest",
        "SchedulePreviewInputRequest",
        "PhraseScheduleInputRequest",
        "IntervalScheduleInputRequest",
        "CronScheduleInputRequest",
        "OnceScheduleInputRequest",
    ):
        assert _component(schema, name)["additionalProperties"] is False, name
    # What a GET returned may be sent back: its read-only fields are accepted (and ignored).
    write = _component(schema, "PatchedJobChangeRequest")["properties"]
    assert {"id", "owner", "next_run_at", "created_at"} <= set(write)


def test_a_schedule_is_one_of_its_shapes_so_an_empty_one_is_not_allowed(schema):
    branches = [ref["$ref"].rsplit("/", 1)[1] for ref in _component(schema, "ScheduleInputRequest")["oneOf"]]
    assert branches == [
        "PhraseScheduleInputRequest",
        "IntervalScheduleInputRequest",
        "CronScheduleInputRequest",
        "OnceScheduleInputRequest",
    ]
    required = {name: set(_component(schema, name)["required"]) for name in branches}
    assert required == {
        "PhraseScheduleInputRequest": {"phrase"},
        "IntervalScheduleInputRequest": {"kind", "every", "unit"},
        "CronScheduleInputRequest": {"kind", "cron"},
        "OnceScheduleInputRequest": {"kind", "at"},
    }
    # Every branch accepts a time zone and what a GET shows besides.
    for name in branches:
        assert {"timezone", "anchor", "human", "next_runs"} <= set(_component(schema, name)["properties"]), name


@pytest.mark.parametrize(
    "schedule",
    [
        {"phrase": "every 15 minutes"},
        {"kind": "interval", "every": 2, "unit": "hours", "timezone": "Europe/Berlin"},
        {"kind": "cron", "cron": "*/5 * * * *"},
        {"kind": "cron", "cron": "*/5 * * * *", "timezone": None},
        {"kind": "once", "at": "2031-01-01T12:00:00+01:00"},
    ],
)
def test_each_documented_schedule_shape_is_accepted(api, schedule):
    response = api.post("/api/v1/schedules/preview/", {"schedule": schedule}, format="json")
    assert response.status_code == 200, response.content


def test_explain_documents_that_since_may_not_be_empty(schema):
    parameters = schema["paths"]["/api/v1/jobs/{id}/explain/"]["get"]["parameters"]
    since = next(parameter for parameter in parameters if parameter["name"] == "since")
    assert since["schema"]["minLength"] == 1


def test_an_empty_schedule_is_a_400(api):
    response = api.post("/api/v1/schedules/preview/", {"schedule": {}}, format="json")
    assert_error(response, 400, "validation_error", "schedule.kind")


def test_a_job_sent_back_as_a_get_returned_it_is_accepted_by_put_and_patch(api, user):
    job = services.job_create(
        owner=user,
        actor=user,
        data={"name": "x", "schedule": {"phrase": "every 15 minutes"}, "action": {"type": "task", "task": "echo"}},
    )
    body = api.get(f"/api/v1/jobs/{job.pk}/").json()
    assert api.put(f"/api/v1/jobs/{job.pk}/", body, format="json").status_code == 200
    assert api.patch(f"/api/v1/jobs/{job.pk}/", body, format="json").status_code == 200


def test_docs_page_loads_swagger_ui_from_this_server(anon, db):
    response = anon.get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert not re.search(r"""(src|href)=["']https?://""", page)
