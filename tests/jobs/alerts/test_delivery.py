"""Delivering alerts (jobs.services.alerts.delivery_attempt, the jobs.deliver_alert task): each attempt
recorded, retried with backoff, given up after ALERTS_DELIVERY_ATTEMPTS, a channel failing for a day broken."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from jobs import services, tasks
from jobs.execution import dispatch
from jobs.models import Alert, AlertDelivery, AlertKind, Channel, ChannelKind, DeliveryStatus
from jobs.services import alerts as alert_services
from scheduler_site import metrics

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _one_message_per_alert(settings):
    """Each delivery on its own here; grouping a burst into one message: test_grouping.py."""
    settings.ALERTS_GROUP_SECONDS = 0


def webhook(user, url, name="hook"):
    return services.channel_create(owner=user, data={"name": name, "kind": ChannelKind.WEBHOOK, "target": url})


def raise_failed(job):
    alert = services.alert_raise(job=job, kind=AlertKind.FAILED, slot=job.next_run_at, details={"error": "boom"})
    assert alert is not None
    return alert


def test_a_delivery_is_sent_signed_and_recorded(user, make_job, receiver):
    channel = webhook(user, receiver.url())
    receiver.secret = channel.secret
    [delivery] = raise_failed(make_job()).deliveries.all()
    tasks.deliver_alert.apply(args=[str(delivery.pk)], throw=True)  # the task as a worker runs it
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (DeliveryStatus.SENT, 1, 200)
    assert delivery.sent_at is not None and delivery.last_error == ""
    assert [got.signature_ok for got in receiver.received] == [True]


def test_a_duplicated_message_sends_nothing_twice(user, make_job, receiver):
    channel = webhook(user, receiver.url())
    [delivery] = raise_failed(make_job()).deliveries.all()
    assert channel and services.delivery_attempt(delivery_id=delivery.pk) is not None
    assert services.delivery_attempt(delivery_id=delivery.pk) is None
    assert len(receiver.received) == 1


def test_a_dead_webhook_is_retried_with_backoff_then_given_up(user, make_job, receiver, settings, deliveries_sent):
    settings.ALERTS_DELIVERY_ATTEMPTS = 4
    settings.ALERTS_RETRY_BACKOFF_SECONDS = 30
    receiver.statuses = [500]
    channel = webhook(user, receiver.url())
    [delivery] = raise_failed(make_job()).deliveries.all()
    for attempt in range(1, 5):
        done = services.delivery_attempt(delivery_id=delivery.pk)
        assert done is not None and done.attempts == attempt
        delivery.refresh_from_db()
        assert (delivery.attempts, delivery.last_response_code) == (attempt, 500)
        assert delivery.last_error == "HTTP 500: receiver says no"
        assert channel.secret not in delivery.last_error
    assert delivery.status == DeliveryStatus.FAILED
    # A try after each of the first three failures, 30 s x 2^(n-1) later; none after the last.
    assert [countdown for _, countdown in deliveries_sent] == [30, 60, 120]
    assert {pk for pk, _ in deliveries_sent} == {str(delivery.pk)}
    assert len(receiver.received) == 4
    assert services.delivery_attempt(delivery_id=delivery.pk) is None  # given up: nothing more


def test_a_webhook_back_up_sends_on_a_later_attempt(user, make_job, receiver, deliveries_sent):
    receiver.statuses = [502, 200]
    webhook(user, receiver.url())
    [delivery] = raise_failed(make_job()).deliveries.all()
    services.delivery_attempt(delivery_id=delivery.pk)
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (DeliveryStatus.SENT, 2, 200)


def test_an_egress_refusal_is_final_at_once(user, make_job, settings, deliveries_sent):
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    channel = webhook(user, "http://127.0.0.1:9/hook")
    settings.JOBS_HTTP_ALLOWED_NETWORKS = []  # the policy changed after the channel was saved
    [delivery] = raise_failed(make_job()).deliveries.all()
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert delivery.last_error.startswith("egress refused:")
    assert deliveries_sent == []
    assert channel.pk


def test_email_delivery_through_smtp(user, make_job, smtp_server):
    services.channel_create(owner=user, data={"name": "mail", "kind": "email", "target": "ops@example.com"})
    job = make_job(name="billing-sync")
    [delivery] = raise_failed(job).deliveries.all()
    services.delivery_attempt(delivery_id=delivery.pk)
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    [message] = smtp_server.messages
    assert "Subject: [scheduler] job billing-sync failed" in message.content.decode()


def test_a_channel_failing_for_a_day_is_marked_broken_and_the_owner_told_elsewhere(
    user, make_job, receiver, settings, smtp_server, deliveries_sent
):
    settings.ALERTS_DELIVERY_ATTEMPTS = 1
    dead = webhook(user, "http://127.0.0.1:1/dead")
    services.channel_create(owner=user, data={"name": "mail", "kind": "email", "target": "ops@example.com"})
    job = make_job()
    day_ago = timezone.now() - timedelta(days=1, minutes=1)

    first = raise_failed(job).deliveries.get(channel=dead)
    AlertDelivery.objects.filter(pk=first.pk).update(created_at=day_ago)
    services.delivery_attempt(delivery_id=first.pk)
    dead.refresh_from_db()
    assert dead.broken_since is not None
    broken = Alert.objects.get(kind=AlertKind.BROKEN)
    assert broken.details["channel"] == "hook"
    # Told through the remaining channel only (the broken one is not asked to carry it).
    assert [d.channel.name for d in broken.deliveries.all()] == ["mail"]
    services.delivery_attempt(delivery_id=broken.deliveries.get().pk)
    assert "alert channel hook is broken" in smtp_server.messages[-1].content.decode()


def test_a_channel_failing_for_less_than_a_day_is_not_broken(user, make_job, settings, deliveries_sent):
    settings.ALERTS_DELIVERY_ATTEMPTS = 1
    settings.JOBS_HTTP_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    dead = webhook(user, "http://127.0.0.1:1/dead")
    [delivery] = raise_failed(make_job()).deliveries.all()
    services.delivery_attempt(delivery_id=delivery.pk)
    dead.refresh_from_db()
    assert dead.broken_since is None


def test_a_send_that_works_clears_broken(user, make_job, receiver):
    channel = webhook(user, receiver.url())
    Channel.objects.filter(pk=channel.pk).update(broken_since=timezone.now())
    [delivery] = raise_failed(make_job()).deliveries.all()
    services.delivery_attempt(delivery_id=delivery.pk)
    channel.refresh_from_db()
    assert channel.broken_since is None


def test_channel_test_sends_now_and_returns_the_delivery(user, receiver):
    channel = webhook(user, receiver.url())
    receiver.secret = channel.secret
    delivery = services.channel_test(channel=channel, send_now=True)
    assert (delivery.status, delivery.attempts, delivery.last_response_code) == (DeliveryStatus.SENT, 1, 200)
    assert receiver.received[0].json["kind"] == "test"
    assert receiver.received[0].signature_ok


def test_channel_test_of_a_dead_channel_fails_without_a_retry(user, allow_loopback, deliveries_sent):
    channel = webhook(user, "http://127.0.0.1:1/")
    delivery = services.channel_test(channel=channel, send_now=True)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.FAILED, 1)
    assert delivery.last_error.startswith("connection error")
    assert deliveries_sent == []


def test_a_webhook_url_the_egress_policy_refuses_is_a_400_at_write_time(user, settings):
    settings.JOBS_HTTP_ALLOWED_NETWORKS = []
    for url in ("http://127.0.0.1/hook", "http://localhost:8000/", "http://169.254.169.254/latest", "ftp://x.com/"):
        with pytest.raises(ValidationError) as info:
            webhook(user, url)
        assert "This URL is not allowed" in str(info.value)


def test_metrics_count_sent_and_given_up_deliveries_by_kind(user, make_job, receiver, settings, deliveries_sent):
    def value(counter, kind):
        return counter.labels(kind, "webhook")._value.get()

    settings.ALERTS_DELIVERY_ATTEMPTS = 1
    before = value(metrics.ALERTS_SENT, "failed"), value(metrics.ALERTS_FAILED, "failed")
    webhook(user, receiver.url())
    services.delivery_attempt(delivery_id=raise_failed(make_job()).deliveries.get().pk)
    receiver.statuses = [500]
    services.delivery_attempt(delivery_id=raise_failed(make_job()).deliveries.get().pk)
    after = value(metrics.ALERTS_SENT, "failed"), value(metrics.ALERTS_FAILED, "failed")
    assert (after[0] - before[0], after[1] - before[1]) == (1, 1)


# --- the sweep: deliveries whose message was lost ------------------------------------------------


def overdue(now):
    """A moment at which a try due at `now` is overdue for the sweep."""
    return now + timedelta(seconds=alert_services.RESEND_GRACE_SECONDS + 1)


def test_a_delivery_whose_message_the_broker_refused_is_sent_by_the_sweep(
    user, make_job, receiver, broker_down, django_capture_on_commit_callbacks, caplog, monkeypatch
):
    channel = webhook(user, receiver.url())
    receiver.secret = channel.secret
    with broker_down(), django_capture_on_commit_callbacks(execute=True):
        alert = raise_failed(make_job())
    assert "could not be sent" in caplog.text  # logged; the failure that raised it was not held up
    [delivery] = alert.deliveries.all()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.PENDING, 0)

    now = timezone.now()
    assert services.deliveries_resend_lost(now=now) == 0  # not overdue yet: its message may be on its way
    published = []
    monkeypatch.setattr(dispatch, "send", lambda task, args, countdown=0.0: published.append((task, args)) or True)
    assert services.deliveries_resend_lost(now=overdue(now)) == 1
    assert published == [(dispatch.DELIVER_ALERT_TASK, [str(delivery.pk)])]

    tasks.deliver_alert.apply(args=published[0][1], throw=True)  # a worker takes the message sent again
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 1)
    assert [got.signature_ok for got in receiver.received] == [True]
    assert services.deliveries_resend_lost(now=overdue(now)) == 1 - 1  # sent: nothing left to sweep


def test_the_sweep_sends_overdue_retries_only_and_fails_a_delivery_that_lost_its_worker(
    user, make_job, settings, allow_loopback, deliveries_sent
):
    settings.ALERTS_DELIVERY_ATTEMPTS = 3
    settings.ALERTS_RETRY_BACKOFF_SECONDS = 30
    webhook(user, "http://127.0.0.1:1/dead")
    fresh, in_backoff, overdue_retry, lost = (raise_failed(make_job()).deliveries.get() for _ in range(4))
    now = timezone.now()
    long_ago = now - timedelta(hours=1)
    AlertDelivery.objects.exclude(pk=fresh.pk).update(created_at=long_ago)
    # Tried once 10 s ago: its retry is due 30 s after that, not yet overdue.
    AlertDelivery.objects.filter(pk=in_backoff.pk).update(attempts=1, last_attempt_at=now - timedelta(seconds=10))
    # Tried twice, the last 5 minutes ago: its retry (60 s after) is 4 minutes overdue.
    AlertDelivery.objects.filter(pk=overdue_retry.pk).update(attempts=2, last_attempt_at=now - timedelta(minutes=5))
    # Claimed for its last attempt, then nothing recorded: the worker died while sending.
    AlertDelivery.objects.filter(pk=lost.pk).update(attempts=3, last_attempt_at=now - timedelta(minutes=5))
    deliveries_sent.clear()

    assert services.deliveries_resend_lost(now=now) == 2
    assert deliveries_sent == [(str(overdue_retry.pk), 0.0)]
    statuses = dict(AlertDelivery.objects.values_list("pk", "status"))
    assert statuses[lost.pk] == DeliveryStatus.FAILED
    assert AlertDelivery.objects.get(pk=lost.pk).last_error == "the worker was lost during the last attempt"
    assert statuses[fresh.pk] == statuses[in_backoff.pk] == statuses[overdue_retry.pk] == DeliveryStatus.PENDING


def test_the_sweep_is_a_system_task_beat_runs_every_minute(settings, deliveries_sent):
    entry = settings.CELERY_BEAT_SCHEDULE["system:resend-alerts"]
    assert entry["task"] == tasks.resend_alerts.name == "jobs.resend_alerts"
    assert entry["schedule"] == timedelta(seconds=60)
    assert tasks.resend_alerts.apply(throw=True).result == 0  # nothing pending: nothing sent
