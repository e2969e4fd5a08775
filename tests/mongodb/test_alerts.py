"""Alerts under the MQL guard: the channel API, a job's alert history and settings, raising an alert,
a delivery attempt (sent, failed and retried, given up), a channel marked broken."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from jobs import services
from jobs.models import AlertDelivery, AlertKind, Channel, DeliveryStatus
from jobs.tasks import alert_missed, deliver_alert, resend_alerts
from tests.mongodb import data

HOOK = "http://127.0.0.1:9/hook"  # nothing listens: a connection error, at once


@pytest.fixture(autouse=True)
def _fixed_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """A webhook secret is random: the recorded insert needs the same one every run."""
    monkeypatch.setattr("jobs.alerts.channels.new_secret", lambda: "5" * 64)


@pytest.fixture
def channel(user: Any) -> Channel:
    return services.channel_create(owner=user, data={"name": "hook", "kind": "webhook", "target": HOOK})


@pytest.fixture
def mail(user: Any) -> Channel:
    return services.channel_create(owner=user, data={"name": "mail", "kind": "email", "target": "ops@example.com"})


def _delivery(job: Any, channel: Channel | None = None) -> AlertDelivery:
    alert = services.alert_raise(job=job, kind=AlertKind.FAILED, slot=job.next_run_at, details={"error": "boom"})
    assert alert is not None
    return alert.deliveries.get(**({"channel": channel} if channel else {}))


# --- the channel API -----------------------------------------------------------------------------


def test_channels_list(mql: Any, api: APIClient, channel: Channel) -> None:
    with mql.path("api.channels.list"):
        response = api.get("/api/v1/channels/")
    assert response.status_code == 200 and response.json()["count"] == 1


def test_channels_create(mql: Any, api: APIClient) -> None:
    with mql.path("api.channels.create"):
        response = api.post("/api/v1/channels/", {"name": "hook", "kind": "webhook", "target": HOOK}, format="json")
    assert response.status_code == 201, response.content
    assert len(response.json()["secret"]) == 64


def test_channels_create_duplicate(mql: Any, api: APIClient, channel: Channel) -> None:
    with mql.path("api.channels.create_duplicate"):
        response = api.post("/api/v1/channels/", {"name": "hook", "kind": "webhook", "target": HOOK}, format="json")
    assert response.status_code == 409, response.content


def test_channels_detail(mql: Any, api: APIClient, channel: Channel) -> None:
    with mql.path("api.channels.detail"):
        response = api.get(f"/api/v1/channels/{channel.pk}/")
    assert response.status_code == 200, response.content


def test_channels_change(mql: Any, api: APIClient, channel: Channel) -> None:
    with mql.path("api.channels.change"):
        response = api.patch(f"/api/v1/channels/{channel.pk}/", {"name": "renamed"}, format="json")
    assert response.status_code == 200, response.content


def test_channels_delete(mql: Any, api: APIClient, channel: Channel, user: Any) -> None:
    _delivery(data.make_job(user))
    with mql.path("api.channels.delete"):
        response = api.delete(f"/api/v1/channels/{channel.pk}/")
    assert response.status_code == 204, response.content
    assert not AlertDelivery.objects.exists()


def test_channels_test(mql: Any, api: APIClient, channel: Channel, published: Any) -> None:
    with mql.path("api.channels.test"):
        response = api.post(f"/api/v1/channels/{channel.pk}/test/")
    assert response.status_code == 202, response.content
    assert [name for name, *_ in published] == ["jobs.deliver_alert"]


# --- jobs -----------------------------------------------------------------------------------------


def test_job_create_naming_channels(mql: Any, api: APIClient, channel: Channel) -> None:
    body = {
        "name": "with alerts",
        "schedule": {"kind": "cron", "cron": "0 * * * *"},
        "action": {"type": "task", "task": "echo"},
        "alert_channels": [str(channel.pk)],
    }
    with mql.path("api.jobs.create_with_alert_channels"):
        response = api.post("/api/v1/jobs/", body, format="json")
    assert response.status_code == 201, response.content


def test_job_alerts_history(mql: Any, api: APIClient, user: Any, channel: Channel) -> None:
    job = data.make_job(user)
    _delivery(job)
    with mql.path("api.jobs.alerts"):
        response = api.get(f"/api/v1/jobs/{job.pk}/alerts/")
    assert response.status_code == 200, response.content
    assert len(response.json()["results"][0]["deliveries"]) == 1


def test_alert_raise_damped(mql: Any, user: Any, channel: Channel, settings: Any) -> None:
    settings.ALERTS_DAMPING_SECONDS = 300
    job = data.make_job(user)
    _delivery(job)
    with mql.path("service.alert_raise_damped"):
        assert services.alert_raise(job=job, kind=AlertKind.FAILED) is None


# --- delivering --------------------------------------------------------------------------------------


def test_deliver_alert_sent(mql: Any, user: Any, mail: Channel) -> None:
    delivery = _delivery(data.make_job(user))
    with mql.path("task.deliver_alert_sent"):
        deliver_alert.apply(args=[str(delivery.pk)], throw=True)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT


def test_deliver_alert_failed_and_retried(mql: Any, user: Any, channel: Channel, published: Any) -> None:
    delivery = _delivery(data.make_job(user))
    published.clear()  # the first try, sent at once here: a standalone server has no commit to wait for
    with mql.path("task.deliver_alert_retried"):
        deliver_alert.apply(args=[str(delivery.pk)], throw=True)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 1)
    assert [name for name, *_ in published] == ["jobs.deliver_alert"]  # the next try


def test_deliver_alert_given_up_marks_the_channel_broken(
    mql: Any, user: Any, channel: Channel, mail: Channel, settings: Any
) -> None:
    settings.ALERTS_DELIVERY_ATTEMPTS = 1
    delivery = _delivery(data.make_job(user), channel)
    AlertDelivery.objects.filter(pk=delivery.pk).update(created_at=timezone.now() - timedelta(days=2))
    with mql.path("task.deliver_alert_given_up_broken"):
        deliver_alert.apply(args=[str(delivery.pk)], throw=True)
    channel.refresh_from_db()
    assert channel.broken_since is not None


def test_resend_alerts_sweep(mql: Any, user: Any, channel: Channel, published: Any, settings: Any) -> None:
    settings.ALERTS_DELIVERY_ATTEMPTS = 2
    lost_message, lost_worker = (_delivery(data.make_job(user)) for _ in range(2))
    long_ago = timezone.now() - timedelta(hours=1)
    AlertDelivery.objects.filter(pk=lost_message.pk).update(created_at=long_ago)
    AlertDelivery.objects.filter(pk=lost_worker.pk).update(created_at=long_ago, attempts=2, last_attempt_at=long_ago)
    published.clear()
    with mql.path("task.resend_alerts"):
        assert resend_alerts.apply(throw=True).get() == 2
    assert [name for name, *_ in published] == ["jobs.deliver_alert"]
    lost_worker.refresh_from_db()
    assert lost_worker.status == DeliveryStatus.FAILED


# --- the admin -----------------------------------------------------------------------------------


@pytest.fixture
def admin_client(staff: Any) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def test_admin_channel_changelist(mql: Any, admin_client: Any, channel: Channel) -> None:
    with mql.path("admin.channel.changelist"):
        assert admin_client.get("/admin/jobs/channel/").status_code == 200


def test_admin_channel_add(mql: Any, admin_client: Any, user: Any) -> None:
    form = {"owner": str(user.pk), "name": "ops", "kind": "webhook", "target": HOOK, "is_default": "on"}
    with mql.path("admin.channel.add"):
        response = admin_client.post("/admin/jobs/channel/add/", form)
    assert response.status_code == 302, response.content.decode()[:2000]


def test_admin_channel_action_send_test(mql: Any, admin_client: Any, channel: Channel) -> None:
    with mql.path("admin.channel.action_send_test"):
        response = admin_client.post(
            "/admin/jobs/channel/", {"action": "send_test", "_selected_action": [str(channel.pk)], "index": 0}
        )
    assert response.status_code == 302


def test_admin_alert_changelist_and_page(mql: Any, admin_client: Any, user: Any, channel: Channel) -> None:
    alert = _delivery(data.make_job(user)).alert
    with mql.path("admin.alert.changelist"):
        assert admin_client.get("/admin/jobs/alert/").status_code == 200
    with mql.path("admin.alert.change_page"):
        assert admin_client.get(f"/admin/jobs/alert/{alert.pk}/change/").status_code == 200


def test_alert_missed_task(mql: Any, user: Any, channel: Channel) -> None:
    job = data.make_job(user)
    slot = timezone.now().replace(microsecond=0)
    missed = {str(job.pk): [3, (slot - timedelta(minutes=2)).isoformat(), slot.isoformat()]}
    with mql.path("task.alert_missed"):
        assert alert_missed.apply(args=[missed], throw=True).get() == 1
