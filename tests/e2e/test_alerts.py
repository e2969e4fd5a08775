"""Alerts through a real worker: a failing-then-recovering job with retries reaches a webhook as exactly
one `failed` and one `recovered` message, each signed (the receiver checks the signature)."""

from __future__ import annotations

import pytest

from jobs import services
from jobs.models import Alert, AlertKind, DeliveryStatus, Job
from tests.e2e.conftest import wait_for
from tests.jobs.alerts.conftest import receiver  # noqa: F401 (the fixture)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def test_failing_then_recovering_sends_one_message_each_way(procs, make_job, user, receiver):  # noqa: F811
    procs.worker(ALERTS_GROUP_SECONDS="0", ALERTS_DAMPING_SECONDS="0")
    channel = services.channel_create(owner=user, data={"name": "hook", "kind": "webhook", "target": receiver.url()})
    receiver.secret = channel.secret
    job = make_job(
        action={"type": "task", "task": "fail"}, max_retries=2, retry_backoff_seconds=1
    )  # no beat runs here: manual runs only

    services.job_request_run(job=job, actor=user)  # 3 attempts, one failed slot
    wait_for(lambda: len(receiver.received) == 1, timeout=30, message="the failed alert to arrive")
    services.job_request_run(job=Job.objects.get(pk=job.pk), actor=user)  # still failing: no message
    wait_for(
        lambda: len(Job.objects.get(pk=job.pk).recent_outcomes) == 6,
        timeout=30,
        message="the second slot's 3 attempts",
    )
    Job.objects.filter(pk=job.pk).update(task_name="echo")
    services.job_request_run(job=Job.objects.get(pk=job.pk), actor=user)
    wait_for(lambda: len(receiver.received) == 2, timeout=30, message="the recovered alert to arrive")

    assert [got.json["kind"] for got in receiver.received] == ["failed", "recovered"]
    assert all(got.signature_ok for got in receiver.received)
    assert receiver.received[0].json["details"]["attempts"] == 3
    alerts = Alert.objects.filter(job_ref=job.pk).order_by("created_at")
    assert [a.kind for a in alerts] == [AlertKind.FAILED, AlertKind.RECOVERED]
    assert {d.status for a in alerts for d in a.deliveries.all()} == {DeliveryStatus.SENT}
