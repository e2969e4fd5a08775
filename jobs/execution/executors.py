"""What a run does: an HTTP call or a registered task. No database access here.

Each executor returns an `Outcome` (status, result excerpt, error text,
reason) and never raises for a failure of the action itself. The one
exception that passes through is Celery's `SoftTimeLimitExceeded`: the
run's `timeout_seconds` is enforced by the worker's time limits (see
`jobs.execution.dispatch`), and the caller turns it into `timed_out`.

Header values are secrets: they are never put in a result, an error or a
log line. Library error messages (and response bodies that echo request
headers) are scrubbed of them before they are stored.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings

from jobs.execution import egress, guarded_http, registry
from jobs.models import MASK, ActionType, Job, RunStatus

EXCERPT_BYTES = 4096
BODY_EXCERPT_CHARS = 2048
# Header values shorter than this are masked only where they stand alone
# (see scrub): replacing e.g. "1" inside every number would make results unreadable.
MIN_SECRET_LENGTH = 4
_ERRNO = re.compile(r"\[Errno -?\d+\][^'\")\]]*")


@dataclass(frozen=True)
class Outcome:
    """How an action ended. `permanent`: a failure that a retry would only repeat (no retry follows)."""

    status: str
    result: str = ""
    error: str = ""
    reason: str = ""
    permanent: bool = False


def excerpt(text: str, limit: int = EXCERPT_BYTES) -> str:
    """`text` cut to at most `limit` bytes of UTF-8, marked when cut."""
    data = text.encode("utf-8")
    if len(data) <= limit:
        return text
    marker = " …[truncated]"
    cut = data[: limit - len(marker.encode("utf-8"))].decode("utf-8", errors="ignore")
    return cut + marker


def scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret in `text`, also as Python and JSON escape it (library messages use repr).

    A secret shorter than MIN_SECRET_LENGTH is replaced only where it stands
    alone (not inside a longer word or number): a 2-character token is still
    a secret, but masking every "42" in a body would make results unreadable.
    """
    forms: set[str] = set()
    short: set[str] = set()
    for secret in secrets:
        if isinstance(secret, str) and secret:
            escaped = {secret, repr(secret)[1:-1], json.dumps(secret)[1:-1]}
            (forms if len(secret) >= MIN_SECRET_LENGTH else short).update(escaped)
    for form in sorted(forms, key=len, reverse=True):
        text = text.replace(form, MASK)
    for form in sorted(short, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(form)}(?!\w)", MASK, text)
    return text


def execute(job: Job, *, timeout: float) -> Outcome:
    if job.action_type == ActionType.HTTP:
        return run_http(job, timeout=timeout)
    return run_task(job)


# --- http ------------------------------------------------------------------------


def _shown_url(url: str) -> str:
    """scheme://host[:port]/path: no credentials, no query string."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path or '/'}"


def _connection_reason(exc: BaseException) -> str:
    """The root cause of a connection error in a few words ("[Errno 111] Connection refused")."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        match = _ERRNO.search(str(current))
        if match:
            return match.group(0).strip().rstrip(",")
        if "Name or service not known" in str(current) or "getaddrinfo" in str(current):
            return "host name could not be resolved"
        current = current.__cause__ or current.__context__ or (current.args[0] if current.args else None)
        if not isinstance(current, BaseException):
            current = None
    return type(exc).__name__


def run_http(job: Job, *, timeout: float) -> Outcome:
    secrets = [str(value) for value in (job.http_headers or {}).values()]
    url = _shown_url(job.http_url)
    started = time.monotonic()
    try:
        response = guarded_http.fetch(
            egress.policy_for(settings),
            job.http_method or "GET",
            job.http_url,
            headers=dict(job.http_headers or {}),
            body=job.http_body.encode("utf-8") if job.http_body else None,
            # (connect, read): each bounded by the whole run's timeout; the
            # worker's time limit bounds the total.
            timeout=(timeout, timeout),
            follow_redirects=job.http_follow_redirects,
        )
        try:
            raw = response.raw.read(BODY_EXCERPT_CHARS * 4, decode_content=True) or b""
        finally:
            response.close()
    except SoftTimeLimitExceeded:
        raise
    except egress.EgressRefused as exc:
        # The same URL would be refused again: a permanent failure, not retried.
        return Outcome(
            RunStatus.FAILED,
            error=excerpt(scrub(f"egress refused: {exc.why} ({job.http_method} {url}).", secrets)),
            reason="egress refused",
            permanent=True,
        )
    except requests.Timeout:
        return Outcome(
            RunStatus.TIMED_OUT,
            error=f"Timed out after {timeout:g} s waiting for {job.http_method} {url}.",
            reason="timeout",
        )
    except requests.ConnectionError as exc:
        reason = scrub(_connection_reason(exc), secrets)
        return Outcome(
            RunStatus.FAILED,
            error=excerpt(f"Connection failed: could not connect to {url} ({reason})."),
            reason="connection error",
        )
    except requests.RequestException as exc:
        return Outcome(
            RunStatus.FAILED,
            error=excerpt(scrub(f"{type(exc).__name__}: request to {url} failed: {exc}", secrets)),
            reason="request error",
        )
    latency_ms = round((time.monotonic() - started) * 1000)
    body = raw.decode(response.encoding or "utf-8", errors="replace")[:BODY_EXCERPT_CHARS]
    body = scrub(body, secrets)
    code = response.status_code
    result = _http_result(code, latency_ms, body)
    expected = job.http_expected_status or []
    ok = code in expected if expected else 200 <= code < 300
    if ok:
        return Outcome(RunStatus.SUCCEEDED, result=result)
    wanted = ", ".join(str(c) for c in expected) if expected else "any 2xx"
    error = f"HTTP {code} from {job.http_method} {url} is not an expected status ({wanted})."
    if code in guarded_http.REDIRECT_STATUSES and not job.http_follow_redirects:
        error += " Redirects are followed only when the job's follow_redirects is on."
    return Outcome(RunStatus.FAILED, result=result, error=error, reason="unexpected status")


def _http_result(code: int, latency_ms: int, body: str) -> str:
    while True:
        text = json.dumps({"status_code": code, "latency_ms": latency_ms, "body": body}, ensure_ascii=False)
        if len(text.encode("utf-8")) <= EXCERPT_BYTES or not body:
            return excerpt(text)
        body = body[: len(body) * 3 // 4]


# --- registered task -------------------------------------------------------------


def run_task(job: Job) -> Outcome:
    task = registry.get(job.task_name)
    if task is None:
        return Outcome(
            RunStatus.FAILED,
            error=f'Unknown task "{job.task_name}": it is not registered in this worker.',
            reason="unknown task",
        )
    args: list[Any] = list(job.task_args or [])
    kwargs: dict[str, Any] = dict(job.task_kwargs or {})
    try:
        value = task.func(*args, **kwargs)
    except SoftTimeLimitExceeded:
        raise
    except Exception as exc:
        return Outcome(RunStatus.FAILED, error=excerpt(f"{type(exc).__name__}: {exc}"), reason="exception")
    try:
        result = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError):
        result = repr(value)
    return Outcome(RunStatus.SUCCEEDED, result=excerpt(result))
