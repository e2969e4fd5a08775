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


def directives(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split("; ")}


@pytest.mark.parametrize("path", ["/admin/login/", "/api/docs/", "/api/v1/ping/"])
def test_every_page_has_a_content_security_policy_without_inline_scripts(client, db, path):
    policy = directives(client.get(path))
    assert policy["script-src"][0] == "'self'"
    assert "'unsafe-inline'" not in policy["script-src"] and "'unsafe-eval'" not in policy["script-src"]
    assert policy["object-src"] == ["'none'"] and policy["frame-ancestors"] == ["'none'"]


def test_the_api_docs_have_no_inline_script(client, db):
    html = client.get("/api/docs/").content.decode()
    scripts = html.split("<script")[1:]
    assert scripts and all(" src=" in script.split(">", 1)[0] for script in scripts)


def test_the_periodic_task_form_runs_its_one_inline_script_with_the_requests_nonce(admin_client):
    response = admin_client.get("/admin/django_celery_beat/periodictask/add/")
    nonce = next(part for part in directives(response)["script-src"] if part.startswith("'nonce-"))
    assert f'<script id="periodic-task-overrides" nonce="{nonce[7:-1]}">' in response.content.decode()
