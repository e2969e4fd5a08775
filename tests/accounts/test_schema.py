"""The API docs are public and describe the Bearer JWT scheme the API actually uses."""

from __future__ import annotations

import pytest
import yaml


@pytest.fixture
def schema(anon, db):
    response = anon.get("/api/schema/")
    assert response.status_code == 200
    return yaml.safe_load(response.content)


def test_schema_and_docs_need_no_login(anon, db):
    assert anon.get("/api/schema/").status_code == 200
    assert anon.get("/api/docs/").status_code == 200


def test_schema_declares_bearer_jwt(schema):
    assert schema["components"]["securitySchemes"]["jwtAuth"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
    }
    assert {"jwtAuth": []} in schema["paths"]["/api/v1/me/"]["get"]["security"]


def test_token_endpoints_are_documented(schema):
    for path in ("/api/v1/token/", "/api/v1/token/refresh/", "/api/v1/token/logout/"):
        assert "post" in schema["paths"][path]
