"""The admin's alert pages: channels written through the alert services, a test action, the alert history."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from jobs import services
from jobs.models import Alert, AlertDelivery, AlertKind, Channel, DeliveryStatus

pytestmark = pytest.mark.django_db


def hook(owner: Any, name: str = "hook") -> Channel:
    return services.channel_create(
        owner=owner, data={"name": name, "kind": "webhook", "target": "https://hooks.example.com/a"}
    )


def test_add_a_webhook_channel_shows_its_secret_once(staff_client: Client, user: Any) -> None:
    response = staff_client.post(
        "/admin/jobs/channel/add/",
        {
            "owner": user.pk,
            "name": "ops",
            "kind": "webhook",
            "target": "https://hooks.example.com/x",
            "is_default": "on",
        },
        follow=True,
    )
    assert response.status_code == 200
    channel = Channel.objects.get(name="ops")
    assert channel.owner == user and len(channel.secret) == 64
    assert channel.secret in response.content.decode()
    page = staff_client.get(f"/admin/jobs/channel/{channel.pk}/change/").content.decode()
    assert channel.secret not in page
    assert channel.secret not in staff_client.get("/admin/jobs/channel/").content.decode()


def test_the_egress_policy_refuses_a_webhook_url_in_the_admin_too(staff_client: Client, user: Any) -> None:
    response = staff_client.post(
        "/admin/jobs/channel/add/",
        {"owner": user.pk, "name": "ops", "kind": "webhook", "target": "http://169.254.169.254/latest"},
    )
    assert response.status_code == 200
    assert "This URL is not allowed" in response.content.decode()
    assert not Channel.objects.exists()


def test_change_a_channel(staff_client: Client, user: Any) -> None:
    channel = hook(user)
    response = staff_client.post(
        f"/admin/jobs/channel/{channel.pk}/change/", {"name": "renamed", "target": "https://h.example.com/b"}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    channel.refresh_from_db()
    assert (channel.name, channel.target, channel.is_default) == ("renamed", "https://h.example.com/b", False)


def test_send_test_action_queues_a_delivery(staff_client: Client, user: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr("jobs.execution.dispatch.send", lambda *args, **kwargs: True)
    channel = hook(user)
    response = staff_client.post(
        "/admin/jobs/channel/", {"action": "send_test", "_selected_action": [str(channel.pk)]}, follow=True
    )
    assert "Queued a test message to 1 channel" in response.content.decode()
    assert AlertDelivery.objects.get().alert.kind == AlertKind.TEST


def test_delete_a_channel(staff_client: Client, user: Any) -> None:
    channel = hook(user)
    response = staff_client.post(f"/admin/jobs/channel/{channel.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Channel.objects.exists()


def test_the_alert_history_is_read_only_with_deliveries_inline(staff_client: Client, user: Any, make_job: Any) -> None:
    channel = hook(user)
    job = make_job(user, name="billing-sync")
    alert = services.alert_raise(job=job, kind=AlertKind.FAILED, slot=job.next_run_at, details={"error": "boom"})
    assert alert is not None
    AlertDelivery.objects.filter(alert=alert).update(
        status=DeliveryStatus.FAILED, attempts=5, last_response_code=503, last_error="HTTP 503: down"
    )
    listing = staff_client.get("/admin/jobs/alert/").content.decode()
    assert "billing-sync" in listing and "1 failed" in listing
    page = staff_client.get(f"/admin/jobs/alert/{alert.pk}/change/").content.decode()
    assert "HTTP 503: down" in page and "503" in page
    assert channel.secret not in page
    assert staff_client.get("/admin/jobs/alert/add/").status_code == 403
    assert staff_client.post(f"/admin/jobs/alert/{alert.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Alert.objects.count() == 1
