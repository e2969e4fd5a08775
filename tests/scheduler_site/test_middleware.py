"""API answers carry one user's data or tokens: no shared cache may keep them."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/api/v1/jobs/", "/api/v1/me/", "/api/v1/ping/"])
def test_authenticated_api_answers_are_private_and_not_stored(api, path):
    response = api.get(path)
    assert response.status_code == 200
    assert set(response["Cache-Control"].split(", ")) == {"private", "no-store"}
    assert "Authorization" in response["Vary"]


def test_a_cached_api_answer_is_private_too(api):
    api.get("/api/v1/jobs/")
    response = api.get("/api/v1/jobs/")
    assert response["X-Cache"] == "hit"  # served from the service's own cache
    assert set(response["Cache-Control"].split(", ")) == {"private", "no-store"}


def test_token_answers_and_errors_are_not_stored(anon, user):
    response = anon.post("/api/v1/token/", {"username": "alice", "password": user.raw_password}, format="json")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert "no-store" in anon.get("/api/v1/jobs/")["Cache-Control"]  # a 401


def test_pages_outside_the_api_are_left_alone(client, db):
    # The public schema is the same for everyone: a proxy may keep it.
    assert "Cache-Control" not in client.get("/api/schema/")
