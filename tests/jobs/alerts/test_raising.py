"""Alerts raised by runs and pauses (jobs.services.alerts through jobs.services.runs and job_pause):
one per change of state, never one per failed attempt, damped when flapping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from accounts.services import user_deactivate
from jobs import services, tasks
from jobs.beat.scheduler import JobScheduler
from jobs.execution import claims, dispatch
from jobs.models import Alert, AlertDelivery, AlertKind, ChannelKind, DeliveryStatus, JobRun, RunTrigger
from scheduler_site.celery import app
from tests import factories

pytestmark = pytest.mark.django_db


def claim(job, *, at=None):
    run = claims.new_run(job, at or job.next_run_at)
    assert claims.claim_one(run)
    return run


def execute(run):
    if run.trigger == RunTrigger.SCHEDULE:
        return services.run_execute_slot(
            job_id=str(run.job_id), scheduled_for=run.scheduled_for.isoformat(), worker="w"
        )
    return services.run_execute(run_id=run.pk, worker="w")


def run_slot(job, sent, at):
    """A slot and every retry that follows it, as the workers would."""
    before = len(sent.runs)
    execute(claim(job, at=at))
    while len(sent.runs) > before:
        before = len(sent.runs)
        execute(sent.runs[-1][0])


def set_task(job, task):
    job.task_name = task
    job.save(update_fields=["task_name"])


def kinds(job):
    return list(Alert.objects.filter(job_ref=job.pk).order_by("created_at").values_list("kind", flat=True))


@pytest.fixture
def hook(user, allow_loopback):
    return services.channel_create(
        owner=user, data={"name": "hook", "kind": ChannelKind.WEBHOOK, "target": "http://127.0.0.1:9/hook"}
    )


def test_a_failing_then_recovering_job_with_retries_alerts_once_each_way(
    make_job, sent, hook, settings, deliveries_sent, django_capture_on_commit_callbacks
):
    settings.ALERTS_DAMPING_SECONDS = 0
    job = make_job(action=factories.task_action("fail"), max_retries=2, retry_backoff_seconds=1)
    slot = job.next_run_at
    with django_capture_on_commit_callbacks(execute=True):
        run_slot(job, sent, slot)  # 3 failed attempts: one failed slot
        assert kinds(job) == [AlertKind.FAILED]
        run_slot(job, sent, slot + timedelta(seconds=10))  # still failing: nothing new
        assert kinds(job) == [AlertKind.FAILED]
        set_task(job, "echo")
        run_slot(job, sent, slot + timedelta(seconds=20))
        run_slot(job, sent, slot + timedelta(seconds=30))
    assert kinds(job) == [AlertKind.FAILED, AlertKind.RECOVERED]
    failed, recovered = Alert.objects.filter(job_ref=job.pk).order_by("created_at")
    assert failed.slot == slot
    assert (failed.details["attempts"], failed.details["reason"]) == (3, "exception")
    assert "failed on purpose" in failed.details["error"]
    assert recovered.details["failed_slots"] == 2
    # One delivery per alert to the default channel, each handed to the workers once it committed.
    deliveries = AlertDelivery.objects.filter(alert__job_ref=job.pk)
    assert sorted(str(d.pk) for d in deliveries) == sorted(pk for pk, _ in deliveries_sent)
    assert {d.status for d in deliveries} == {DeliveryStatus.PENDING}


def test_a_retry_that_succeeds_is_no_failure(make_job, sent, hook):
    job = make_job(action=factories.task_action("fail"), max_retries=1, retry_backoff_seconds=1)
    execute(claim(job))
    set_task(job, "echo")
    execute(sent.runs[-1][0])
    assert kinds(job) == []


def test_flapping_is_damped_to_one_alert_per_state_per_window(make_job, sent, hook, settings):
    settings.ALERTS_DAMPING_SECONDS = 300
    job = make_job(action=factories.task_action("fail"))
    slot = job.next_run_at
    for n in range(3):
        set_task(job, "fail")
        run_slot(job, sent, slot + timedelta(seconds=20 * n))
        set_task(job, "echo")
        run_slot(job, sent, slot + timedelta(seconds=20 * n + 10))
    assert kinds(job) == [AlertKind.FAILED, AlertKind.RECOVERED]


def test_auto_pause_alerts(make_job, sent, hook, settings):
    settings.ALERTS_DAMPING_SECONDS = 0
    job = make_job(action=factories.task_action("fail"), pause_after_failures=2)
    run_slot(job, sent, job.next_run_at)
    run_slot(job, sent, job.next_run_at + timedelta(seconds=10))
    assert kinds(job) == [AlertKind.FAILED, AlertKind.PAUSED]
    paused = Alert.objects.get(job_ref=job.pk, kind=AlertKind.PAUSED)
    assert paused.details == {"reason": "auto", "consecutive_failures": 2}


def test_a_pause_by_the_user_does_not_alert(make_job, user, hook):
    job = make_job()
    services.job_pause(job=job, actor=user)
    assert kinds(job) == []


def test_deactivating_the_owner_alerts_for_each_paused_job(make_job, user, staff, hook):
    jobs = [make_job(), make_job()]
    user_deactivate(user=user, actor=staff)
    for job in jobs:
        assert kinds(job) == [AlertKind.PAUSED]
        assert Alert.objects.get(job_ref=job.pk).details["reason"] == "owner_deactivated"


def test_alerts_off_for_a_job(make_job, sent, hook):
    job = make_job(action=factories.task_action("fail"), alerts_enabled=False)
    run_slot(job, sent, job.next_run_at)
    assert kinds(job) == []


def test_a_job_naming_channels_alerts_only_those(make_job, sent, user, hook, smtp_server):
    mail = services.channel_create(owner=user, data={"name": "mail", "kind": "email", "target": "a@example.com"})
    job = make_job(action=factories.task_action("fail"), alert_channels=[str(mail.pk)])
    other = make_job(action=factories.task_action("fail"))
    run_slot(job, sent, job.next_run_at)
    run_slot(other, sent, other.next_run_at)
    assert list(AlertDelivery.objects.filter(alert__job_ref=job.pk).values_list("channel_id", flat=True)) == [mail.pk]
    # Without a list of its own: the owner's default channels (both are defaults).
    assert set(AlertDelivery.objects.filter(alert__job_ref=other.pk).values_list("channel_id", flat=True)) == {
        mail.pk,
        hook.pk,
    }


def test_the_error_in_an_alert_is_scrubbed_of_the_jobs_header_values(make_job, sent, hook, allow_loopback):
    job = make_job(action=factories.http_action("http://127.0.0.1:1/x", headers={"X-Token": "tok-123456"}))
    job.http_url = "http://127.0.0.1:1/tok-123456"  # an error message may repeat the URL
    job.save(update_fields=["http_url"])
    run_slot(job, sent, job.next_run_at)
    alert = Alert.objects.get(job_ref=job.pk)
    assert "tok-123456" not in str(alert.details)


def test_a_failing_alert_never_fails_the_run_or_its_retry(make_job, sent, hook, monkeypatch):
    def broken(**kwargs):
        raise RuntimeError("alerts database down")

    monkeypatch.setattr("jobs.services.alerts.channels_for", lambda job: broken())
    job = make_job(action=factories.task_action("fail"), max_retries=1, retry_backoff_seconds=1)
    execute(claim(job))
    execute(sent.runs[-1][0])  # the retry was still published
    job.refresh_from_db()
    assert job.consecutive_failures == 1
    assert kinds(job) == []


def test_a_run_the_reaper_finds_stuck_alerts_once_even_with_a_retry_to_follow(make_job, sent, hook, settings):
    settings.JOBS_REAPER_GRACE_SECONDS = 5
    job = make_job(timeout_seconds=10, max_retries=1, retry_backoff_seconds=1)
    run = claim(job)
    assert claims.start(run, worker="celery@gone", now=timezone.now() - timedelta(seconds=17))
    assert services.runs_reap() == 1
    assert kinds(job) == [AlertKind.STUCK]  # the slot has not failed yet: its retry follows
    stuck = Alert.objects.get(job_ref=job.pk)
    assert stuck.details["worker"] == "celery@gone" and stuck.slot == run.scheduled_for


@pytest.mark.django_db(transaction=True)  # beat closes stale connections between passes, as in tests/jobs/beat
def test_slots_missed_while_beat_was_down_alert_once_per_job_through_a_worker(
    make_job, sent, hook, settings, monkeypatch
):
    settings.JOBS_MISFIRE_GRACE_SECONDS = 10
    messages = []
    monkeypatch.setattr(dispatch, "send", lambda task, args, countdown=0.0: messages.append((task, args)) or True)
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        job = make_job(schedule={"kind": "interval", "every": 10, "unit": "seconds"})
        quiet = make_job(schedule={"kind": "interval", "every": 10, "unit": "minutes"})
        clock.shift(timedelta(seconds=65))  # beat starts now: :10 ... :50 passed while none ran
        JobScheduler(app=app, lazy=True, max_interval=3600).tick()
    # Beat's pass sent one message for the batch and raised nothing itself.
    assert [task for task, _ in messages] == [dispatch.ALERT_MISSED_TASK]
    assert kinds(job) == []
    [(_, [missed])] = messages
    assert tasks.alert_missed.apply(args=[missed], throw=True).get() == 1
    assert kinds(job) == [AlertKind.MISSED] and kinds(quiet) == []
    alert = Alert.objects.get(job_ref=job.pk)
    assert alert.details["missed_slots"] == 5
    assert alert.slot == start + timedelta(seconds=50)


def test_a_scheduled_run_starting_later_than_the_threshold_alerts_late(make_job, sent, hook, settings):
    settings.ALERTS_DAMPING_SECONDS = 0
    job = make_job(alert_late_after_seconds=30)
    on_time = claim(job, at=timezone.now().replace(microsecond=0) - timedelta(seconds=5))
    execute(on_time)
    assert kinds(job) == []
    late = claim(job, at=timezone.now().replace(microsecond=0) - timedelta(seconds=95))
    execute(late)
    assert kinds(job) == [AlertKind.LATE]
    alert = Alert.objects.get(job_ref=job.pk)
    assert alert.slot == late.scheduled_for
    assert alert.details["threshold_seconds"] == 30 and alert.details["lateness_seconds"] > 90


def test_no_threshold_no_late_alert_and_manual_runs_are_never_late(make_job, sent, hook, user):
    job = make_job()
    execute(claim(job, at=timezone.now().replace(microsecond=0) - timedelta(hours=1)))
    slow = make_job(alert_late_after_seconds=1)
    run = services.job_request_run(job=slow, actor=user, send=False)
    JobRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=1))
    execute(JobRun.objects.get(pk=run.pk))
    assert kinds(job) == [] and kinds(slow) == []
