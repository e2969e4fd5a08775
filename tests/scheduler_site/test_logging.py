"""Log output: JSON lines, structured request errors, and no secret in any log line."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIClient

from scheduler_site import urls as site_urls
from scheduler_site.logging import REDACTED, JsonFormatter, RedactSecretsFilter, redact

ROOT = Path(__file__).resolve().parents[2]
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJ1c2VyX2lkIjoiNDIiLCJleHAiOjE3MDAwMDAwMDB9.c2lnbmF0dXJlLWJ5dGVz"

# --- test-only views, mounted beside the real URLs ---------------------------------------

logger = logging.getLogger("tests.logging")


@api_view(["POST"])
@permission_classes([AllowAny])
def leaky_api_view(request: Request) -> Response:
    # The careless code redaction exists for: secrets in messages, extras and exceptions.
    logger.warning("upstream call with headers %s", dict(request.headers))
    logger.info("request body", extra={"payload": request.data})
    raise RuntimeError(f"upstream rejected Authorization: {request.headers.get('Authorization')}")


def plain_crash_view(request: HttpRequest) -> HttpResponse:
    raise RuntimeError(f"could not use token {request.GET.get('token')}")


urlpatterns = [
    path("api/v1/test/leaky/", leaky_api_view, name="test-leaky"),
    path("test/crash/", plain_crash_view, name="test-crash"),
    path("", include("scheduler_site.urls")),
]
handler400, handler403, handler404, handler500 = (
    site_urls.handler400,
    site_urls.handler403,
    site_urls.handler404,
    site_urls.handler500,
)


# --- capturing what the configured handlers really print -----------------------------------


@pytest.fixture
def console(request: Any) -> Iterator[io.StringIO]:
    """The text the settings' own log handlers write (their filters included), at DEBUG level.

    caplog is no use here: its handler is pytest's, without the filters the
    settings put on every handler.
    """
    handlers = [h for h in logging.getLogger().handlers if h.name in django_settings.LOGGING["handlers"]]
    assert handlers, "the settings' handlers are not installed on the root logger"
    stream = io.StringIO()
    formatter = getattr(request, "param", None)
    saved = [(h, h.setStream(stream), h.formatter) for h in handlers]
    if formatter is not None:
        for handler in handlers:
            handler.setFormatter(formatter)
    root, django_request = logging.getLogger(), logging.getLogger("django.request")
    levels = (root.level, django_request.level)
    root.setLevel(logging.DEBUG)
    django_request.setLevel(logging.WARNING)  # 4xx too, not only 5xx
    try:
        yield stream
    finally:
        root.setLevel(levels[0])
        django_request.setLevel(levels[1])
        for handler, old_stream, old_formatter in saved:
            handler.setStream(old_stream)
            handler.setFormatter(old_formatter)


def test_every_configured_handler_redacts_and_adds_request_context():
    config = django_settings.LOGGING
    for name, handler in config["handlers"].items():
        assert "redact_secrets" in handler.get("filters", []), name
        assert "request_context" in handler.get("filters", []), name
    installed = [h for h in logging.getLogger().handlers if h.name in config["handlers"]]
    assert installed
    for handler in installed:
        assert any(isinstance(f, RedactSecretsFilter) for f in handler.filters)


# --- no secrets ---------------------------------------------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("console", [None, JsonFormatter()], ids=["text", "json"], indirect=True)
def test_no_token_or_password_in_logs_after_login_refresh_failure_and_exception(console, user):
    client = APIClient(raise_request_exception=False)
    login = client.post("/api/v1/token/", {"username": user.username, "password": user.raw_password}, format="json")
    assert login.status_code == 200
    tokens = login.json()
    refreshed = client.post("/api/v1/token/refresh/", {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 200
    new_access = refreshed.json()["access"]
    secrets = [tokens["access"], tokens["refresh"], new_access, user.raw_password]

    # Failed requests: a bad token (401), and a view that leaks the token everywhere (500).
    bad = client.get("/api/v1/me/", HTTP_AUTHORIZATION=f"Bearer {tokens['access']}x")
    assert bad.status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {new_access}")
    leaky = client.post(
        "/api/v1/test/leaky/", {"password": user.raw_password, "refresh": tokens["refresh"]}, format="json"
    )
    assert leaky.status_code == 500
    client.credentials()
    crash = client.get(f"/test/crash/?token={tokens['refresh']}")
    assert crash.status_code == 500

    # A logged exception carrying secrets in its message and arguments.
    try:
        raise ValueError(f"refresh {tokens['refresh']} rejected for password={user.raw_password}")
    except ValueError:
        logger.exception("token problem %s", {"access": tokens["access"], "password": user.raw_password})

    text = console.getvalue()
    assert "Unauthorized: /api/v1/me/" in text
    assert "upstream call with headers" in text
    assert "token problem" in text
    assert "Traceback" in text
    assert REDACTED in text
    for secret in secrets:
        assert secret not in text
    # Nor any JWT-shaped fragment (the signature part alone is a credential too).
    for token in (tokens["access"], tokens["refresh"], new_access):
        assert token.rsplit(".", 1)[-1] not in text


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        (f"Authorization: Bearer {JWT}", JWT),
        ("{'Authorization': 'Bearer opaque-api-key-123456'}", "opaque-api-key-123456"),
        ("HTTP_AUTHORIZATION=Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        (f"decoded {JWT} from the header", JWT),
        ("password=hunter2&next=/", "hunter2"),
        ('{"password": "hunter2", "user": "alice"}', "hunter2"),
        ("{'new_password': 'hunter2'}", "hunter2"),
        ("refresh: abcdef.ghijkl", "abcdef.ghijkl"),
        ("api_key=sk_live_4242424242", "sk_live_4242424242"),
        ("redis://:s3cr3t-pw@redis:6379/0", "s3cr3t-pw"),
        ("postgres://scheduler:pgpass99@db:5432/scheduler", "pgpass99"),
        ("Cookie: sessionid=abcdef0123456789", "abcdef0123456789"),
        # Upper case reaches the patterns too (a cheap pre-check skips lines that cannot match).
        ("PASSWORD=hunter2", "hunter2"),
        ("REDIS://:s3cr3t-pw@redis:6379/0", "s3cr3t-pw"),
        (f"TOKEN {JWT}", JWT),
    ],
)
def test_redact_removes(raw, secret):
    cleaned = redact(raw)
    assert secret not in cleaned
    assert REDACTED in cleaned


def test_redact_removes_the_configured_secret_key(settings):
    settings.SECRET_KEY = "a-long-configured-secret-key-value"
    assert "a-long-configured-secret-key-value" not in redact("key is a-long-configured-secret-key-value!")


@pytest.mark.parametrize(
    "harmless",
    [
        "run 3f2a of job 9c1 ended succeeded (schedule, attempt 1, 120 ms)",
        "token revocation check skipped: store unreachable (ConnectionError)",
        "GET /api/v1/jobs/?page=2 answered 200",
        "http://127.0.0.1:8000/healthz",
    ],
)
def test_redact_keeps_ordinary_lines(harmless):
    assert redact(harmless) == harmless


def test_extras_with_secret_names_are_redacted_and_others_kept():
    record = logging.makeLogRecord(
        {"msg": "login", "token": "opaque", "headers": {"Authorization": "Bearer x", "Accept": "json"}, "job_id": "j1"}
    )
    RedactSecretsFilter().filter(record)
    assert record.token == REDACTED
    assert record.headers == {"Authorization": REDACTED, "Accept": "json"}
    assert record.job_id == "j1"


# --- structured output ----------------------------------------------------------------------


@pytest.mark.urls(__name__)
@pytest.mark.parametrize("console", [JsonFormatter()], ids=["json"], indirect=True)
def test_one_structured_line_per_request_error(console):
    client = APIClient(raise_request_exception=False)
    assert client.get("/test/crash/?token=abc").status_code == 500
    lines = [json.loads(line) for line in console.getvalue().splitlines() if line.strip()]
    errors = [line for line in lines if line["logger"] == "django.request"]
    assert len(errors) == 1
    error = errors[0]
    assert error["level"] == "ERROR"
    assert error["status_code"] == 500
    assert error["method"] == "GET"
    assert error["path"] == "/test/crash/"
    assert error["route"] == "test-crash"
    assert error["user_id"] is None
    assert "request" not in error  # the request object (its repr has the query string) is dropped
    assert "Traceback" in error["exc_info"]


def test_log_format_json_prints_json_lines():
    """With LOG_FORMAT=json a process's log lines are JSON objects, extras as keys."""
    code = (
        "import django, logging; django.setup(); "
        "logging.getLogger('jobs.execution.lifecycle').info('run %s started', 'r1', "
        "extra={'job_id': 'j1', 'run_id': 'r1'}); "
        "logging.getLogger('jobs.execution.lifecycle').warning('with Authorization: Bearer " + JWT + "')"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "scheduler_site.settings",
            "LOG_FORMAT": "json",
            "LOG_LEVEL": "INFO",
        },
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    started = next(line for line in lines if line["message"] == "run r1 started")
    assert started["level"] == "INFO"
    assert started["logger"] == "jobs.execution.lifecycle"
    assert (started["job_id"], started["run_id"]) == ("j1", "r1")
    assert "time" in started
    assert JWT not in result.stderr


def test_log_format_text_is_the_default():
    code = "import django, logging; django.setup(); logging.getLogger('jobs').warning('plain line')"
    env = {k: v for k, v in os.environ.items() if k != "LOG_FORMAT"}
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "scheduler_site.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    line = next(line for line in result.stderr.splitlines() if "plain line" in line)
    assert " WARNING jobs plain line" in line
    assert not line.startswith("{")


def test_the_web_process_says_at_start_how_writes_that_belong_together_are_kept():
    """The web entry point (wsgi) logs the database and its transaction mode once, as beat does."""
    result = subprocess.run(
        [sys.executable, "-c", "import scheduler_site.wsgi"],
        cwd=ROOT,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "scheduler_site.settings", "LOG_LEVEL": "INFO"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "web: database " in result.stderr
    assert "writes that belong together: transactions" in result.stderr  # every SQL lane has them
