"""scheduler_site.parsers and the request size limit: a hostile body is a 4xx in the error shape, never a 500."""

from __future__ import annotations

import json

import pytest

from jobs.models import Job
from scheduler_site.parsers import MAX_JSON_DEPTH, depth_exceeds
from tests.factories import job_data, task_action
from tests.jobs.api.conftest import assert_error

URL = "/api/v1/jobs/"


def _post_raw(api, body: str):
    return api.post(URL, data=body, content_type="application/json")


def test_a_body_over_the_limit_is_a_413(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 100_000
    body = json.dumps(job_data(action=task_action(blob="x" * 200_000)))

    error = assert_error(_post_raw(api, body), 413, "request_too_large")
    assert "100000 bytes" in error["message"]
    assert not Job.objects.exists()


def test_the_default_limit_refuses_20_mb(api):
    body = json.dumps(job_data(action=task_action(blob="x" * 20_000_000)))
    assert_error(_post_raw(api, body), 413, "request_too_large")


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_json_nested_too_deeply_is_a_400(api, depth):
    body = json.dumps(job_data(action=task_action())).replace(
        '"kwargs": {}', '"kwargs": {"a": ' + "[" * depth + "]" * depth + "}"
    )

    error = assert_error(_post_raw(api, body), 400, "parse_error")
    assert f"{MAX_JSON_DEPTH} levels" in error["message"]
    assert not Job.objects.exists()


def test_json_within_the_depth_is_parsed(api):
    depth = MAX_JSON_DEPTH - 4  # the job, its action and kwargs take three levels
    body = json.dumps(job_data(action=task_action())).replace(
        '"kwargs": {}', '"kwargs": {"a": ' + "[" * depth + "]" * depth + "}"
    )
    assert _post_raw(api, body).status_code == 201


def test_the_token_endpoint_uses_the_same_parser(anon):
    response = anon.post("/api/v1/token/", data="[" * 50_000 + "]" * 50_000, content_type="application/json")
    assert_error(response, 400, "parse_error")


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ({}, 1, False),
        ([[]], 1, True),
        ([[]], 2, False),
        ({"a": {"b": [1]}}, 3, False),
        ({"a": {"b": [1]}}, 2, True),
        (5, 0, False),
    ],
)
def test_depth_exceeds(value, limit, expected):
    assert depth_exceeds(value, limit) is expected


@pytest.mark.parametrize(
    ("field", "escaped"),
    [
        ("name", "nul\\u0000inside"),
        ("description", "lone \\ud800 surrogate"),
        ("description", "low \\udfff alone"),
        ("kwargs_key", "k\\u0000ey"),
        ("args", "deep \\ud83d"),
    ],
)
def test_nul_characters_and_lone_surrogates_are_a_400(api, field, escaped):
    # json.dumps would escape the backslash: the placeholder is swapped for the JSON escape itself.
    data = job_data(action=task_action())
    if field == "kwargs_key":
        data["action"]["kwargs"] = {"PLACEHOLDER": 1}
    elif field == "args":
        data["action"]["args"] = [["PLACEHOLDER"]]
    else:
        data[field] = "PLACEHOLDER"
    body = json.dumps(data).replace("PLACEHOLDER", escaped)

    error = assert_error(_post_raw(api, body), 400, "parse_error")
    assert "NUL" in error["message"]
    assert not Job.objects.exists()


@pytest.mark.parametrize("number", ["1e400", "-1e400"])
def test_a_number_past_a_floats_range_is_a_400(api, number):
    # Read as infinity: stored, it answered 409 "duplicate name" though no job had the name.
    body = json.dumps(job_data(action=task_action(a="PLACEHOLDER"))).replace('"PLACEHOLDER"', number)

    error = assert_error(_post_raw(api, body), 400, "parse_error")
    assert "too large" in error["message"]
    assert not Job.objects.exists()


def test_a_surrogate_pair_is_ordinary_text(api):
    body = json.dumps(job_data(action=task_action(), description="smile"))
    body = body.replace('"smile"', '"\\ud83d\\ude00"')

    response = _post_raw(api, body)
    assert response.status_code == 201, response.content
    assert response.json()["description"] == "\U0001f600"
