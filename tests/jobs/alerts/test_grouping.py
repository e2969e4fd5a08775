"""A burst of alerts across many jobs is grouped per channel: at most one message per channel per
ALERTS_GROUP_SECONDS, the first at once, the rest together when the window ends."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from jobs import services
from jobs.models import AlertDelivery, AlertKind, DeliveryStatus, Job
from tests import factories

pytestmark = pytest.mark.django_db

JOBS = 1000
WAVES = 10
# The bound this test holds the service to: 1,000 jobs failing within one minute reach a channel as at
# most 2 messages (the first alert at once, everything else in the next window's message), and every
# alert is delivered within 2 windows (120 s) of the burst.
MAX_MESSAGES = 2
MAX_DELAY = timedelta(seconds=120)


def _jobs(owner, count):
    template = factories.job(owner, name="template")
    jobs = [
        Job(**{**{f.attname: getattr(template, f.attname) for f in Job._meta.concrete_fields}, "id": None, "name": n})
        for n in (f"job-{i:04}" for i in range(count))
    ]
    for job in jobs:
        job.id = uuid.uuid4()
    return Job.objects.bulk_create(jobs)


def _drain(deliveries_sent, clock, until):
    """Run every queued deliver_alert task whose countdown has come, moving the pinned clock as workers would."""
    while True:
        due = sorted((at, pk) for pk, at in _pending(deliveries_sent) if at <= until)
        if not due:
            return
        at, pk = due[0]
        _QUEUE.remove((pk, at))
        clock.move_to(max(at, datetime.now(UTC)))
        services.delivery_attempt(delivery_id=pk)


_QUEUE: list[tuple[str, datetime]] = []


def _pending(deliveries_sent):
    now = datetime.now(UTC)
    while deliveries_sent:
        pk, countdown = deliveries_sent.pop(0)
        _QUEUE.append((pk, now + timedelta(seconds=countdown)))
    return list(_QUEUE)


@pytest.fixture(autouse=True)
def _queue():
    _QUEUE.clear()
    yield
    _QUEUE.clear()


def test_a_thousand_jobs_failing_at_once_reach_a_channel_as_at_most_two_messages(
    user, receiver, settings, deliveries_sent, django_capture_on_commit_callbacks
):
    settings.ALERTS_GROUP_SECONDS = 60
    channel = services.channel_create(owner=user, data={"name": "hook", "kind": "webhook", "target": receiver.url()})
    receiver.secret = channel.secret
    jobs = _jobs(user, JOBS)
    start = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        # The failures arrive in waves over ~50 s, the workers delivering as they go.
        for wave in range(WAVES):
            clock.move_to(start + timedelta(seconds=5 * wave))
            with django_capture_on_commit_callbacks(execute=True):
                for job in jobs[wave * JOBS // WAVES : (wave + 1) * JOBS // WAVES]:
                    services.alert_raise(job=job, kind=AlertKind.FAILED, slot=start, details={"error": "boom"})
            _drain(deliveries_sent, clock, until=datetime.now(UTC))
        _drain(deliveries_sent, clock, until=start + MAX_DELAY)
    deliveries = AlertDelivery.objects.filter(channel=channel)
    assert deliveries.count() == JOBS
    assert set(deliveries.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert len(receiver.received) <= MAX_MESSAGES
    assert all(got.signature_ok for got in receiver.received)
    listed = sum(got.json.get("count", 1) for got in receiver.received)
    assert listed == JOBS
    last = max(deliveries.values_list("sent_at", flat=True))
    assert last - start <= MAX_DELAY
    digest = receiver.received[-1].json
    assert digest["kind"] == "digest" and digest["counts"] == {"failed": digest["count"]}
    assert len(digest["alerts"]) == 50  # listed; the rest counted


def test_alerts_in_different_windows_go_out_at_once(user, receiver, settings, deliveries_sent, make_job):
    settings.ALERTS_GROUP_SECONDS = 60
    settings.ALERTS_DAMPING_SECONDS = 0
    services.channel_create(owner=user, data={"name": "hook", "kind": "webhook", "target": receiver.url()})
    job = make_job()
    start = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for minute in range(3):
            clock.move_to(start + timedelta(minutes=minute))
            alert = services.alert_raise(job=job, kind=AlertKind.FAILED, details={}, now=datetime.now(UTC))
            services.delivery_attempt(delivery_id=alert.deliveries.get().pk)
    assert len(receiver.received) == 3
    assert [got.json["kind"] for got in receiver.received] == ["failed"] * 3


def test_a_group_that_fails_is_retried_as_a_group(
    user, receiver, settings, deliveries_sent, make_job, django_capture_on_commit_callbacks
):
    settings.ALERTS_GROUP_SECONDS = 60
    settings.ALERTS_RETRY_BACKOFF_SECONDS = 30
    receiver.statuses = [200, 503, 200]
    services.channel_create(owner=user, data={"name": "hook", "kind": "webhook", "target": receiver.url()})
    jobs = [make_job() for _ in range(3)]
    start = datetime(2026, 3, 2, 9, 0, 5, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        for batch in (jobs[:1], jobs[1:]):
            with django_capture_on_commit_callbacks(execute=True):
                for job in batch:
                    services.alert_raise(job=job, kind=AlertKind.FAILED, details={})
            _drain(deliveries_sent, clock, until=datetime.now(UTC))
        _drain(deliveries_sent, clock, until=start + timedelta(minutes=5))
    # The first alert at once; the other two together at 09:01 (503), then together again after the
    # backoff, in the first window it leaves free (09:02).
    assert [got.json.get("count", 1) for got in receiver.received] == [1, 2, 2]
    sent = AlertDelivery.objects.filter(status=DeliveryStatus.SENT)
    assert sorted(sent.values_list("attempts", flat=True)) == [1, 2, 2]


def test_with_the_cache_down_alerts_go_out_ungrouped_rather_than_not_at_all(
    user, receiver, settings, deliveries_sent, make_job, private_redis
):
    settings.ALERTS_GROUP_SECONDS = 60
    services.channel_create(owner=user, data={"name": "hook", "kind": "webhook", "target": receiver.url()})
    alert = services.alert_raise(job=make_job(), kind=AlertKind.FAILED, details={})
    private_redis.stop()
    delivered = services.delivery_attempt(delivery_id=alert.deliveries.get().pk)
    assert delivered is not None and delivered.status == DeliveryStatus.SENT
    assert deliveries_sent == [] and len(receiver.received) == 1
