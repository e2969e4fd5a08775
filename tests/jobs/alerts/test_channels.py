"""Sending to a channel (jobs.alerts.channels): a real SMTP server, a real HTTP receiver checking signatures."""

from __future__ import annotations

import time
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from jobs.alerts import channels, content
from jobs.execution import egress
from jobs.models import Alert, AlertKind, Channel, ChannelKind

pytestmark = pytest.mark.django_db


def _alert(user: Any, **fields: Any) -> Alert:
    values = {
        "owner": user,
        "job_ref": "6f1c1d9a-9a55-4c1b-8e0f-7d3b0f3f6a10",
        "job_name": "nightly-backup",
        "kind": AlertKind.FAILED,
        "slot": timezone.now().replace(microsecond=0),
        "details": {"status": "failed", "reason": "exception", "error": "RuntimeError: disk full", "attempts": 3},
        "created_at": timezone.now(),
    }
    return Alert(**{**values, **fields})


def _send(channel: Channel, alert: Alert) -> channels.Result:
    return channels.send(
        channel,
        content.build(alert, base_url="https://scheduler.example.com"),
        policy=egress.policy_for(django_settings),
        timeout=5,
        from_email="scheduler@example.com",
    )


def test_email_goes_through_the_smtp_server(user, smtp_server):
    channel = Channel(owner=user, name="mail", kind=ChannelKind.EMAIL, target="ops@example.com")
    result = _send(channel, _alert(user))
    assert result == channels.Result(ok=True)
    [message] = smtp_server.messages
    assert message.rcpt_tos == ["ops@example.com"]
    text = message.content.decode()
    assert "Subject: [scheduler] job nightly-backup failed" in text
    assert "RuntimeError: disk full" in text
    assert "https://scheduler.example.com/admin/jobs/job/6f1c1d9a-9a55-4c1b-8e0f-7d3b0f3f6a10/change/" in text
    assert "/api/v1/jobs/6f1c1d9a-9a55-4c1b-8e0f-7d3b0f3f6a10/explain/?since=" in text


def test_email_to_a_server_that_is_down_is_a_failure_not_an_exception(user, smtp_server, settings):
    settings.EMAIL_PORT = 1
    channel = Channel(owner=user, name="mail", kind=ChannelKind.EMAIL, target="ops@example.com")
    result = _send(channel, _alert(user))
    assert not result.ok and not result.permanent
    assert "ConnectionRefusedError" in result.error


def test_a_webhook_is_signed_over_timestamp_and_body(user, receiver):
    secret = channels.new_secret()
    receiver.secret = secret
    channel = Channel(owner=user, name="hook", kind=ChannelKind.WEBHOOK, target=receiver.url(), secret=secret)
    before = int(time.time())
    assert _send(channel, _alert(user)) == channels.Result(ok=True, code=200)
    [got] = receiver.received
    assert got.signature_ok is True
    assert before <= int(got.headers["X-Scheduler-Timestamp"]) <= time.time()
    assert got.headers["Content-Type"] == "application/json"
    payload = got.json
    assert (payload["kind"], payload["job"]["name"]) == ("failed", "nightly-backup")
    assert payload["details"]["error"] == "RuntimeError: disk full"
    assert secret not in got.body


def test_a_signature_made_with_another_secret_does_not_verify(user, receiver):
    receiver.secret = channels.new_secret()
    channel = Channel(
        owner=user, name="hook", kind=ChannelKind.WEBHOOK, target=receiver.url(), secret=channels.new_secret()
    )
    _send(channel, _alert(user))
    assert receiver.received[0].signature_ok is False


def test_slack_gets_a_text_message(user, receiver):
    channel = Channel(owner=user, name="slack", kind=ChannelKind.SLACK, target=receiver.url("/services/T0/B0/x"))
    assert _send(channel, _alert(user)).ok
    [got] = receiver.received
    assert set(got.json) == {"text"}
    assert "nightly-backup failed" in got.json["text"]
    assert "X-Scheduler-Signature" not in got.headers


def test_an_error_answer_is_a_failure_with_its_code_and_an_excerpt(user, receiver):
    receiver.statuses = [503]
    channel = Channel(owner=user, name="hook", kind=ChannelKind.WEBHOOK, target=receiver.url(), secret="s" * 64)
    result = _send(channel, _alert(user))
    assert (result.ok, result.code, result.permanent) == (False, 503, False)
    assert result.error == "HTTP 503: receiver says no"


def test_nothing_listening_is_a_connection_error(user, allow_loopback):
    channel = Channel(owner=user, name="hook", kind=ChannelKind.WEBHOOK, target="http://127.0.0.1:1/", secret="x")
    result = _send(channel, _alert(user))
    assert (result.ok, result.permanent) == (False, False)
    assert result.error.startswith("connection error: [Errno 111]")


def test_the_egress_policy_refuses_loopback_unless_allowed(user, settings):
    settings.JOBS_HTTP_ALLOWED_NETWORKS = []
    channel = Channel(owner=user, name="hook", kind=ChannelKind.WEBHOOK, target="http://127.0.0.1:9/", secret="x")
    result = _send(channel, _alert(user))
    assert (result.ok, result.permanent) == (False, True)
    assert result.error.startswith("egress refused:")
