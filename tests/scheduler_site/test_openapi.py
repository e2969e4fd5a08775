"""scheduler_site.openapi: every operation documents the error answers it can give, in the error shape."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from scheduler_site.openapi import closed

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture
def schema(anon, db) -> dict[str, Any]:
    return yaml.safe_load(anon.get("/api/schema/").content)


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, method, operation) for path, ops in schema["paths"].items() for method, operation in ops.items()]


def test_every_error_answer_has_the_error_shape(schema):
    for path, method, operation in _operations(schema):
        for code, response in operation["responses"].items():
            if code.startswith(("4", "5")):
                assert response["content"]["application/json"]["schema"]["$ref"] == ERROR_REF, (path, method, code)


def test_an_operation_with_a_body_documents_400_413_and_415(schema):
    for path, method, operation in _operations(schema):
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(operation["responses"]), (path, method)


def test_an_operation_with_query_parameters_documents_400(schema):
    for path, method, operation in _operations(schema):
        if any(parameter["in"] == "query" for parameter in operation.get("parameters", [])):
            assert "400" in operation["responses"], (path, method)


def test_protected_operations_document_401_and_403_and_open_ones_no_403(schema):
    open_operations = {("/api/v1/token/", "post"), ("/api/v1/token/refresh/", "post")}
    for path, method, operation in _operations(schema):
        responses = operation["responses"]
        assert "401" in responses, (path, method)  # a bad token or bad credentials
        assert ("403" in responses) != ((path, method) in open_operations), (path, method)


def test_detail_routes_and_paginated_lists_document_404(schema):
    for path, method, operation in _operations(schema):
        if "{id}" in path:
            assert "404" in operation["responses"], (path, method)
    assert "404" in schema["paths"]["/api/v1/jobs/"]["get"]["responses"]  # a page past the last one
    assert "404" not in schema["paths"]["/api/v1/me/"]["get"]["responses"]


def test_throttled_operations_document_429(schema):
    throttled = {
        ("/api/v1/token/", "post"),
        ("/api/v1/jobs/", "post"),
        ("/api/v1/jobs/{id}/", "put"),
        ("/api/v1/jobs/{id}/", "patch"),
        ("/api/v1/jobs/{id}/", "delete"),
        ("/api/v1/jobs/{id}/run/", "post"),
        ("/api/v1/channels/", "post"),
        ("/api/v1/channels/{id}/", "patch"),
        ("/api/v1/channels/{id}/", "delete"),
        ("/api/v1/channels/{id}/test/", "post"),
    }
    for path, method, operation in _operations(schema):
        assert ("429" in operation["responses"]) == ((path, method) in throttled), (path, method)
        if (path, method) in throttled:
            assert operation["responses"]["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_an_answer_a_view_lists_keeps_its_own_description(schema):
    explain = schema["paths"]["/api/v1/jobs/{id}/explain/"]["get"]["responses"]
    assert "cannot be computed" in explain["409"]["description"]
    refresh = schema["paths"]["/api/v1/token/refresh/"]["post"]["responses"]
    assert "revocation store" in refresh["503"]["description"]


def test_closed_marks_request_shapes_only(schema):
    components = schema["components"]["schemas"]
    assert components["JobWriteRequest"]["additionalProperties"] is False
    assert "additionalProperties" not in components["Job"]  # responses may grow fields
    assert "additionalProperties" not in components["TokenObtainRequest"]  # simplejwt ignores unknown keys


def test_closed_records_the_ignored_keys_sorted():
    @closed(ignored={"b", "a"})
    class Shape:
        pass

    @closed
    class Plain:
        pass

    assert Shape.closed_shape and Shape.ignored_keys == ("a", "b")
    assert Plain.closed_shape and Plain.ignored_keys == ()
