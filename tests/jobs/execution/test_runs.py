"""A run's life as the workers drive it (jobs.execution.lifecycle, jobs.services.runs).

Start, finish, job summary, retries, auto-pause, pause, timeouts, the reaper and publishing.
"""

from __future__ import annotations

import base64
import json
import logging
from datetime import datetime, timedelta

import pytest
from celery.exceptions import SoftTimeLimitExceeded, TimeLimitExceeded
from django.utils import timezone

from jobs import services, tasks
from jobs.execution import claims, dispatch, lifecycle, policies, registry
from jobs.models import EventKind, JobEvent, JobRun, PauseReason, RunStatus, RunTrigger
from tests import factories

pytestmark = pytest.mark.django_db


def claim(job, *, at=None):
    """Claim a slot of the job as beat does; the run, or None if the slot was taken."""
    run = claims.new_run(job, at or job.next_run_at)
    return run if claims.claim_one(run) else None


def execute(run, *, worker="w"):
    """What a worker does with the run's message (run_job for a slot, execute_run for the others)."""
    if run.trigger == RunTrigger.SCHEDULE:
        return services.run_execute_slot(
            job_id=str(run.job_id), scheduled_for=run.scheduled_for.isoformat(), worker=worker
        )
    return services.run_execute(run_id=run.pk, worker=worker)


def start(run, *, worker="w", now=None):
    assert claims.start(run, worker=worker, now=now or timezone.now())


def test_a_run_records_start_end_and_the_job_summary(make_job, sent):
    job = make_job()
    run = claim(job)
    assert run.status == RunStatus.QUEUED
    execute(run, worker="celery@w1")
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED
    assert run.worker == "celery@w1"
    assert run.started_at is not None and run.finished_at >= run.started_at
    assert run.duration_ms is not None
    assert json.loads(run.result) == {"hello": "world"}
    job.refresh_from_db()
    assert job.last_run_at == run.started_at
    assert job.last_status == RunStatus.SUCCEEDED
    assert job.recent_outcomes[0]["id"] == str(run.id)
    assert job.recent_outcomes[0]["status"] == RunStatus.SUCCEEDED
    assert job.consecutive_failures == 0


def test_a_duplicate_delivery_does_not_run_the_slot_twice(make_job, sent):
    job = make_job()
    run = claim(job)
    assert execute(run, worker="w1") is not None
    assert execute(run, worker="w2") is None
    run.refresh_from_db()
    assert run.worker == "w1"


def test_a_slot_is_claimed_once(make_job, sent):
    job = make_job()
    assert claim(job) is not None
    assert claim(job) is None
    assert JobRun.objects.filter(job=job).count() == 1


def test_a_failed_run_is_retried_with_growing_backoff(make_job, sent):
    job = make_job(action={"type": "task", "task": "fail"}, max_retries=3, retry_backoff_seconds=10)
    run = claim(job)
    execute(run, worker="w")
    for attempt, low in ((2, 10), (3, 20), (4, 40)):
        retry, countdown, _ = sent.runs[-1]
        assert retry.trigger == RunTrigger.RETRY
        assert retry.attempt == attempt
        assert retry.scheduled_for == run.scheduled_for
        assert low <= countdown <= low * 1.1
        execute(retry, worker="w")
    assert len(sent.runs) == 3  # attempt 4 failed too: max_retries=3 is spent
    statuses = list(JobRun.objects.filter(job=job).order_by("attempt").values_list("attempt", "status"))
    assert statuses == [(1, "failed"), (2, "failed"), (3, "failed"), (4, "failed")]
    job.refresh_from_db()
    assert job.consecutive_failures == 1  # one failed slot, however many attempts it took


def test_consecutive_failed_slots_pause_the_job_attempts_do_not(make_job, sent):
    job = make_job(action={"type": "task", "task": "fail"}, pause_after_failures=2, max_retries=1)
    first = claim(job)
    execute(first, worker="w")
    job.refresh_from_db()
    assert job.consecutive_failures == 0  # a retry follows: the slot has not failed yet
    execute(sent.runs[-1][0], worker="w")
    job.refresh_from_db()
    assert (job.consecutive_failures, job.enabled) == (1, True)

    second = claim(job, at=job.next_run_at + timedelta(seconds=10))
    execute(second, worker="w")
    job.refresh_from_db()
    assert (job.consecutive_failures, job.enabled) == (1, True)
    execute(sent.runs[-1][0], worker="w")
    job.refresh_from_db()
    assert job.consecutive_failures == 2
    assert not job.enabled
    assert job.paused_reason == PauseReason.AUTO
    assert job.next_run_at is None
    assert JobEvent.objects.filter(job=job, kind=EventKind.AUTO_PAUSED).exists()
    assert len(sent.runs) == 2  # one retry per slot, none after the pause


def test_a_success_resets_consecutive_failures(make_job, sent, settings):
    job = make_job(action={"type": "task", "task": "fail"})
    execute(claim(job), worker="w")
    job.refresh_from_db()
    assert job.consecutive_failures == 1
    job.task_name = "echo"
    job.save()
    execute(claim(job, at=job.next_run_at + timedelta(seconds=10)), worker="w")
    job.refresh_from_db()
    assert job.consecutive_failures == 0
    assert [o["status"] for o in job.recent_outcomes] == ["succeeded", "failed"]


def test_recent_outcomes_keep_the_newest_twenty(make_job, sent):
    job = make_job(overlap_policy="allow")
    slots = [job.next_run_at + timedelta(seconds=10 * k) for k in range(25)]
    ids = []
    for slot in slots:
        run = claim(job, at=slot)
        execute(run, worker="w")
        ids.append(str(run.id))
    job.refresh_from_db()
    assert [o["id"] for o in job.recent_outcomes] == ids[::-1][:20]


def test_a_paused_job_starts_no_scheduled_run_but_a_manual_one(make_job, user, sent):
    job = make_job()
    run = claim(job, at=timezone.now())  # its slot has come (a run claimed ahead is withdrawn by the pause)
    job = services.job_pause(job=job, actor=user)
    execute(run, worker="w")
    run.refresh_from_db()
    assert (run.status, run.reason, run.started_at) == (RunStatus.SKIPPED, "paused", None)
    manual = services.job_request_run(job=job, actor=user)
    assert sent.runs[-1][0] == manual
    execute(manual, worker="w")
    manual.refresh_from_db()
    assert manual.trigger == RunTrigger.MANUAL
    assert manual.status == RunStatus.SUCCEEDED


def test_a_run_stopped_at_its_soft_time_limit_is_timed_out(make_job, sent, monkeypatch):
    def stopped() -> None:
        raise SoftTimeLimitExceeded()

    monkeypatch.setitem(registry._REGISTRY, "stopped", registry.RegisteredTask("stopped", stopped, False, ""))
    job = make_job(action={"type": "task", "task": "stopped"}, timeout_seconds=7)
    run = claim(job)
    execute(run, worker="w")
    run.refresh_from_db()
    assert run.status == RunStatus.TIMED_OUT
    assert run.reason == "timeout"
    assert "timeout of 7 s" in run.error


def test_a_run_killed_at_its_hard_time_limit_is_timed_out(make_job, sent):
    job = make_job()
    run = claim(job)
    start(run, worker="w")
    tasks.run_job.on_failure(TimeLimitExceeded(61), "task-id", [str(job.pk), run.scheduled_for.isoformat()], {}, None)
    run.refresh_from_db()
    assert run.status == RunStatus.TIMED_OUT
    manual = services.job_request_run(job=job, actor=None)
    start(manual, worker="w")
    tasks.execute_run.on_failure(TimeLimitExceeded(61), "task-id", [str(manual.pk)], {}, None)
    manual.refresh_from_db()
    assert manual.status == RunStatus.TIMED_OUT


def test_other_task_failures_do_not_touch_the_run(make_job, sent):
    job = make_job()
    run = claim(job)
    start(run, worker="w")
    tasks.execute_run.on_failure(RuntimeError("x"), "task-id", [str(run.pk)], {}, None)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


def test_jitter_offset_is_per_job_and_within_bounds(make_job):
    jobs = [make_job(jitter_seconds=30) for _ in range(5)]
    offsets = [policies.jitter_offset(job) for job in jobs]
    assert all(0 <= offset <= 30 for offset in offsets)
    assert len(set(offsets)) == 5
    assert offsets == [policies.jitter_offset(job) for job in jobs]
    assert policies.jitter_offset(make_job(jitter_seconds=0)) == 0


def test_start_and_end_are_logged_with_structured_fields(make_job, sent, caplog):
    job = make_job()
    run = claim(job)
    with caplog.at_level(logging.INFO, logger="jobs.execution.lifecycle"):
        execute(run, worker="w")
    started, ended = (r for r in caplog.records if r.name == "jobs.execution.lifecycle")
    for record in (started, ended):
        assert record.job_id == str(job.pk)
        assert record.run_id == str(run.pk)
        assert record.trigger == "schedule"
    assert started.status == "running"
    assert ended.status == "succeeded"
    assert isinstance(ended.duration_ms, int)


def test_header_values_stay_out_of_the_run_and_the_logs(make_job, sent, caplog, allow_loopback):
    secret = "Bearer very-secret-value"
    job = make_job(
        action={"type": "http", "url": "http://127.0.0.1:9/hook", "headers": {"Authorization": secret}},
        timeout_seconds=2,
    )
    run = claim(job)
    with caplog.at_level(logging.DEBUG):
        execute(run, worker="w")
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert secret not in run.error + run.result + run.reason
    assert secret not in caplog.text
    assert "very-secret" not in caplog.text


# --- the reaper ---------------------------------------------------------------------------------


def test_the_reaper_fails_runs_whose_worker_is_lost_and_retries(make_job, sent, settings):
    settings.JOBS_REAPER_GRACE_SECONDS = 5
    job = make_job(timeout_seconds=10, max_retries=1, retry_backoff_seconds=1)
    run = claim(job)
    start(run, worker="celery@gone", now=timezone.now() - timedelta(seconds=17))
    recent = claim(make_job(timeout_seconds=10), at=timezone.now())
    start(recent, worker="celery@alive", now=timezone.now() - timedelta(seconds=15))
    assert services.runs_reap() == 1
    run.refresh_from_db()
    recent.refresh_from_db()
    assert (run.status, run.reason) == (RunStatus.FAILED, "worker lost")
    assert "celery@gone" in run.error
    assert recent.status == RunStatus.RUNNING  # 15 s < 10 s timeout + 1 s hard stop + 5 s grace
    retry = sent.runs[-1][0]
    assert (retry.trigger, retry.attempt, retry.scheduled_for) == (RunTrigger.RETRY, 2, run.scheduled_for)


def test_the_reaper_fails_queued_runs_that_no_worker_started(make_job, sent, settings):
    settings.JOBS_QUEUED_LOST_AFTER_SECONDS = 60
    job = make_job()
    lost = claim(job, at=timezone.now() - timedelta(seconds=120))
    JobRun.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(seconds=120))
    waiting = claim(make_job(jitter_seconds=0), at=timezone.now() - timedelta(seconds=30))
    assert services.runs_reap() == 1
    lost.refresh_from_db()
    waiting.refresh_from_db()
    assert (lost.status, lost.reason) == (RunStatus.FAILED, "not started")
    assert waiting.status == RunStatus.QUEUED
    # A worker that gets the message after all does not run it.
    assert execute(lost, worker="late") is None


# --- publishing -----------------------------------------------------------------------------------


def _broker_messages() -> list[dict]:
    """The messages waiting in the lane's broker queue, oldest first, decoded."""
    import redis
    from django.conf import settings

    with redis.Redis.from_url(settings.CELERY_BROKER_URL) as client:
        raw = client.lrange("celery", 0, -1)
    messages = []
    for item in reversed(raw):  # kombu LPUSHes: the oldest is last
        message = json.loads(item)
        messages.append({"headers": message["headers"], "args": json.loads(base64.b64decode(message["body"]))[0]})
    return messages


@pytest.fixture
def empty_queue():
    import redis
    from django.conf import settings

    with redis.Redis.from_url(settings.CELERY_BROKER_URL) as client:
        client.delete("celery")


def _slots(make_job, n, **policies):
    return [claim(make_job(**policies)) for _ in range(n)]


def test_a_published_message_is_what_celery_would_make_with_the_slot_as_eta(make_job, empty_queue):
    from celery.utils.saferepr import saferepr

    (run,) = _slots(make_job, 1, timeout_seconds=42)
    manual = services.job_request_run(job=run.job, actor=None, send=False)
    now = timezone.now()
    start = now + timedelta(seconds=5)
    assert dispatch.publish([dispatch.slot_message(run, start=start, now=now), dispatch.run_message(manual)]) == []
    slot, by_id = _broker_messages()
    args = [str(run.job_id), run.scheduled_for.isoformat()]
    assert (slot["headers"]["task"], slot["args"]) == ("jobs.run_job", args)
    assert (by_id["headers"]["task"], by_id["args"]) == ("jobs.execute_run", [str(manual.pk)])
    # The reprs beat passes in (to save celery's saferepr) are the ones celery would have made.
    assert (slot["headers"]["argsrepr"], slot["headers"]["kwargsrepr"]) == (saferepr(args), saferepr({}))
    assert datetime.fromisoformat(slot["headers"]["eta"]) == start
    assert by_id["headers"]["eta"] is None
    # The run's time limits: the soft one is its timeout, the hard one a second later.
    assert slot["headers"]["timelimit"] == by_id["headers"]["timelimit"] == [43, 42]


def test_messages_are_written_in_chunks_and_all_arrive_in_order(make_job, monkeypatch, empty_queue):
    monkeypatch.setattr(dispatch, "FLUSH_EVERY", 3)
    slots = _slots(make_job, 7)
    now = timezone.now()
    starts = [now + timedelta(seconds=10, milliseconds=i) for i in range(len(slots))]
    messages = [dispatch.slot_message(run, start=start, now=now) for run, start in zip(slots, starts, strict=True)]
    assert dispatch.publish(messages) == []
    sent = _broker_messages()
    assert [m["args"][0] for m in sent] == [str(run.job_id) for run in slots]
    # Each message's ETA is its start exactly, however long the batch took to send (a countdown
    # would have been counted from each send, and drifted later along the batch).
    assert [datetime.fromisoformat(m["headers"]["eta"]) for m in sent] == starts
    assert {run.status for run in JobRun.objects.filter(pk__in=[r.pk for r in slots])} == {RunStatus.QUEUED}


@pytest.fixture
def private_broker(monkeypatch, tmp_path):
    """Publishing goes to a Redis server of this test's own, which the test can stop."""
    import contextlib
    import shutil
    import subprocess
    import time

    from kombu import Connection

    from tests.processes import free_port

    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    port = free_port()
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    connection = Connection(f"redis://127.0.0.1:{port}/0", transport_options={"socket_connect_timeout": 0.5})
    deadline = time.monotonic() + 10
    while True:
        try:
            connection.connect()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)

    @contextlib.contextmanager
    def producer_or_acquire(producer=None):
        yield producer or connection.Producer()

    monkeypatch.setattr(dispatch.app, "producer_or_acquire", producer_or_acquire)
    yield server
    connection.release()
    if server.poll() is None:
        server.kill()
    server.wait(timeout=10)


def test_runs_whose_messages_cannot_be_written_are_failed_not_left_queued(make_job, private_broker, sent, caplog):
    slots = _slots(make_job, 3, max_retries=3)
    private_broker.kill()  # the broker goes away before the messages are written
    private_broker.wait(timeout=10)
    services.publish([dispatch.slot_message(run, start=run.scheduled_for, now=timezone.now()) for run in slots])
    for run in slots:
        run.refresh_from_db()
        assert (run.status, run.reason) == (RunStatus.FAILED, "not queued")
        assert run.error.startswith("The run ") and "sent to the workers" in run.error
    assert "queued: " in caplog.text  # each logged, with the broker's error
    assert not JobRun.objects.filter(trigger=RunTrigger.RETRY).exists()  # it never ran: nothing to retry
    job = slots[0].job
    job.refresh_from_db()
    assert job.last_status == RunStatus.FAILED  # the owner sees it


def test_skipped_runs_of_many_jobs_are_recorded_together(make_job, user, django_capture_on_commit_callbacks):
    from jobs import cache as job_cache

    first, second = make_job(), make_job()
    lifecycle.record_outcomes(first.pk, [_ended(first, RunStatus.SUCCEEDED)])
    before = job_cache.lookup(scope="list", owner_id=user.pk, staff=False, path="/", query="").version
    groups = {job.pk: [_ended(job, RunStatus.SKIPPED, offset=s) for s in (10, 20)] for job in (first, second)}

    with django_capture_on_commit_callbacks(execute=True):  # the cache is invalidated once the write commits
        lifecycle.record_not_run(groups)

    for job in (first, second):
        job.refresh_from_db()
        newest = [entry["id"] for entry in job.recent_outcomes[:2]]
        assert newest == [str(run.pk) for run in reversed(groups[job.pk])]  # newest slot first
        assert {entry["status"] for entry in job.recent_outcomes[:2]} == {"skipped"}
    assert (first.last_status, first.consecutive_failures) == (RunStatus.SUCCEEDED, 0)  # skipped runs ran nothing
    assert len(first.recent_outcomes) == 3 and second.last_status == ""
    assert job_cache.lookup(scope="list", owner_id=user.pk, staff=False, path="/", query="").version != before


def _ended(job, status, *, offset=0):
    slot = job.next_run_at + timedelta(seconds=offset)
    return factories.run_row(job, slot, status=status, finished=slot)


def test_run_job_executes_the_claimed_slot(make_job):
    job = make_job()
    run = claim(job)
    tasks.run_job(str(job.pk), run.scheduled_for.isoformat())
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED


def test_run_job_without_a_slot_runs_nothing(make_job, caplog):
    job = make_job()
    tasks.run_job(str(job.pk))
    assert not JobRun.objects.exists()
    assert "without a slot" in caplog.text


def test_the_retention_task_prunes_old_runs(make_job, settings):
    settings.RUNS_RETENTION_DAYS = 30
    job = make_job()
    old = claim(job, at=timezone.now() - timedelta(days=31))
    lifecycle.finish(old, status=RunStatus.SUCCEEDED, expected=RunStatus.QUEUED)
    recent = claim(job, at=timezone.now() - timedelta(days=1))
    assert tasks.prune_runs() == 1
    assert list(JobRun.objects.values_list("pk", flat=True)) == [recent.pk]


# --- in the foreground (manage.py run_job) -----------------------------------------------------------


def test_execute_now_runs_a_manual_run_in_this_process(make_job, user, sent):
    job = make_job()
    run = services.run_execute_now(job=job, actor=user)
    assert (run.trigger, run.status) == (RunTrigger.MANUAL, RunStatus.SUCCEEDED)
    assert run.worker.endswith("(foreground)")
    assert sent.runs == []  # nothing went to the broker
    assert JobEvent.objects.filter(job=job, kind=EventKind.RUN_REQUESTED).exists()


def test_execute_now_enforces_the_timeout_and_does_not_retry(make_job, sent):
    job = make_job(action={"type": "task", "task": "sleep", "kwargs": {"seconds": 5}}, timeout_seconds=1, max_retries=2)
    run = services.run_execute_now(job=job)
    assert (run.status, run.reason) == (RunStatus.TIMED_OUT, "timeout")
    assert run.duration_ms < 3000
    assert sent.runs == []
