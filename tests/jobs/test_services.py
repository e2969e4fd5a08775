"""jobs.services: every write, its validation, its audit event and its cache invalidation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from jobs import cache as job_cache
from jobs import services
from jobs.models import Job, JobEvent, JobRun, RunStatus
from tests import factories
from tests.factories import job_data
from tests.jobs.api.conftest import SECRET, http_action


@pytest.fixture
def alice(make_user):
    return make_user("alice")


def events(job) -> list[tuple[str, str]]:
    return list(JobEvent.objects.filter(job_ref=job.pk).order_by("created_at").values_list("kind", "actor_name"))


def version_key(owner) -> str | None:
    return job_cache.lookup(scope="list", owner_id=owner.pk, staff=False, path="/", query="").version


# --- create ---------------------------------------------------------------------


def test_create_stores_the_normalized_schedule_and_next_run(alice):
    job = factories.job(alice, schedule={"phrase": "weekdays at 9am", "timezone": "Europe/Berlin"})
    job.refresh_from_db()
    assert (job.schedule_kind, job.cron, job.timezone, job.phrase) == (
        "cron",
        "0 9 * * 1-5",
        "Europe/Berlin",
        "weekdays at 9am",
    )
    assert job.next_run_at > timezone.now()
    assert events(job) == [("created", "alice")]


def test_interval_anchor_is_the_creation_time_in_whole_seconds(alice):
    with time_machine.travel(datetime(2030, 1, 1, 8, 0, 0, 900_000, tzinfo=UTC), tick=False):
        job = factories.job(alice, schedule={"kind": "interval", "every": 10, "unit": "minutes"})
    assert job.interval_anchor == datetime(2030, 1, 1, 8, 0, 0, tzinfo=UTC)
    assert job.next_run_at == datetime(2030, 1, 1, 8, 10, 0, tzinfo=UTC)


def test_fields_sent_next_to_a_phrase_must_agree_with_it():
    now = timezone.now()
    same_instant = {"phrase": "on 2031-01-01 at 12:00", "timezone": "Europe/Berlin", "at": "2031-01-01T11:00:00Z"}
    assert services.validate_schedule({**same_instant, "kind": "once"}, now=now).kind == "once"
    with pytest.raises(ValidationError) as raised:
        services.validate_schedule({"phrase": "every 7 minutes", "every": 30, "unit": "minutes"}, now=now)
    assert set(raised.value.message_dict) == {"schedule.every"}


def test_create_collects_every_error_keyed_by_dotted_path(alice):
    data = job_data(
        name="",
        schedule={"kind": "cron", "cron": "99 * * * *"},
        action=http_action(url="nope"),
        max_retries=-1,
        extra=1,
    )
    with pytest.raises(ValidationError) as raised:
        services.job_create(owner=alice, actor=alice, data=data)
    assert {"name", "schedule.cron", "action.url", "max_retries", "extra"} <= set(raised.value.message_dict)
    assert not Job.objects.exists()


def test_a_created_job_and_its_event_are_stored_as_returned(alice):
    # On PostgreSQL a create writes its rows in one statement (jobs.execution.store.sql) once
    # the mirror's schedule row exists (the second job), else the ORM way.
    for name in ("first", "second"):
        job = factories.job(alice, name=name, action=http_action(), description="d", pause_after_failures=3)
        stored = Job.objects.get(pk=job.pk)
        columns = [field.attname for field in Job._meta.concrete_fields]
        assert {c: getattr(stored, c) for c in columns} == {c: getattr(job, c) for c in columns}
        assert not job._state.adding
        event = JobEvent.objects.get(job_ref=job.pk)
        assert (event.job_id, event.job_name, event.kind, event.changes) == (job.pk, name, "created", {})
        assert (event.actor_id, event.actor_name) == (alice.pk, "alice")
        assert abs(event.created_at - job.created_at) < timedelta(seconds=5)


def test_duplicate_name_raises_a_409_validation_error(alice):
    factories.job(alice, name="dup")
    with pytest.raises(services.DuplicateJobName) as raised:
        factories.job(alice, name="dup")
    assert raised.value.http_status == 409
    assert "name" in raised.value.message_dict


def test_a_duplicate_name_writes_nothing_and_leaves_the_transaction_usable(alice):
    from django_celery_beat.models import PeriodicTask

    first = factories.job(alice, name="dup")
    with transaction.atomic():  # e.g. the admin's own transaction around a save
        with pytest.raises(services.DuplicateJobName):
            factories.job(alice, name="dup", schedule={"kind": "cron", "cron": "0 3 * * *"})
        assert Job.objects.filter(owner=alice).count() == 1
    assert list(Job.objects.values_list("pk", flat=True)) == [first.pk]
    assert JobEvent.objects.count() == 1
    assert PeriodicTask.objects.filter(name__startswith="job:").count() == 1


def test_system_only_task_needs_a_staff_actor(alice, staff):
    action = {"type": "task", "task": "cleanup_runs"}
    with pytest.raises(ValidationError) as raised:
        factories.job(alice, action=action)
    assert "action.task" in raised.value.message_dict
    assert services.job_create(owner=alice, actor=staff, data=job_data(action=action)).task_name == "cleanup_runs"
    # The system itself (actor None, e.g. a management command) may too.
    assert services.job_create(owner=alice, actor=None, data=job_data(action=action)).task_name == "cleanup_runs"


# --- update ---------------------------------------------------------------------


def test_update_records_changed_fields_with_header_values_masked(alice):
    job = factories.job(alice, name="a", action=http_action())
    services.job_update(
        job=job, actor=alice, data={"name": "b", "action": http_action(headers={"Authorization": "Bearer new"})}
    )
    event = JobEvent.objects.get(job_ref=job.pk, kind="updated")
    assert event.changes["name"] == {"old": "a", "new": "b"}
    assert event.changes["http_headers"] == {
        "old": {"Authorization": "••••", "X-Trace": "••••"},
        "new": {"Authorization": "••••"},
        # Both sides are masked, so the event says by name what changed.
        "summary": ["header Authorization: changed", "header X-Trace: removed"],
    }
    assert SECRET not in str(event.changes) and "Bearer new" not in str(event.changes)


def test_update_that_changes_nothing_records_nothing(alice):
    job = factories.job(alice, action=http_action())
    services.job_update(job=job, actor=alice, data=services.job_to_spec(job), partial=False)
    assert events(job) == [("created", "alice")]
    job.refresh_from_db()
    assert job.http_headers["Authorization"] == SECRET


def test_full_update_resets_omitted_policies(alice):
    job = factories.job(alice, max_retries=4, description="d")
    services.job_update(job=job, actor=alice, data=job_data(name=job.name), partial=False)
    job.refresh_from_db()
    assert (job.max_retries, job.description) == (0, "")


def test_full_update_requires_name_schedule_and_action(alice):
    job = factories.job(alice)
    with pytest.raises(ValidationError) as raised:
        services.job_update(job=job, actor=alice, data={}, partial=False)
    assert {"name", "schedule", "action"} <= set(raised.value.message_dict)


def test_update_enabled_goes_through_pause_and_resume(alice):
    job = factories.job(alice)
    services.job_update(job=job, actor=alice, data={"enabled": False})
    services.job_update(job=job, actor=alice, data={"enabled": True})
    assert [kind for kind, _ in events(job)] == ["created", "paused", "resumed"]


# --- pause / resume / delete / duplicate / run ------------------------------------------


def test_pause_and_resume(alice):
    job = factories.job(alice, schedule={"phrase": "every hour"})
    services.job_pause(job=job, actor=alice)
    assert (job.enabled, job.next_run_at, job.paused_reason) == (False, None, "user")
    services.job_resume(job=job, actor=alice)
    assert job.enabled and job.next_run_at > timezone.now() and job.paused_reason == ""
    assert [kind for kind, _ in events(job)] == ["created", "paused", "resumed"]


def test_resume_skips_slots_missed_while_paused(alice):
    start = datetime(2030, 1, 1, 8, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        job = factories.job(alice, schedule={"phrase": "every hour"})
        services.job_pause(job=job, actor=alice)
    with time_machine.travel(start + timedelta(hours=5, minutes=10), tick=False):
        services.job_resume(job=job, actor=alice)
    assert job.next_run_at == datetime(2030, 1, 1, 14, 0, tzinfo=UTC)


def test_jobs_of_a_deactivated_owner_are_paused_by_system_and_resumable_by_staff_only(alice, staff):
    jobs = [factories.job(alice), factories.job(alice)]
    services.job_pause(job=jobs[1], actor=alice)  # already paused: left as it is
    assert services.jobs_pause_for_deactivated_owner(owner=alice) == 1
    job = Job.objects.get(pk=jobs[0].pk)
    assert job.paused_reason == "owner_deactivated"
    assert events(job)[-1] == ("paused", "system")
    with pytest.raises(PermissionDenied):
        services.job_resume(job=job, actor=alice)
    assert services.job_resume(job=job, actor=staff).enabled


def test_delete_keeps_the_audit_trail(alice):
    job = factories.job(alice)
    job_id = job.pk
    services.job_delete(job=job, actor=alice)
    assert not Job.objects.filter(pk=job_id).exists()
    kept = JobEvent.objects.filter(job_ref=job_id).order_by("created_at").values_list("kind", "actor_name", "job_name")
    assert list(kept) == [("created", "alice", job.name), ("deleted", "alice", job.name)]


def test_duplicate_makes_paused_numbered_copies_with_the_secrets(alice):
    job = factories.job(alice, name="report", action=http_action())
    first = services.job_duplicate(job=job, actor=alice)
    second = services.job_duplicate(job=job, actor=alice)
    assert (first.name, second.name) == ("report (copy)", "report (copy 2)")
    assert not first.enabled and first.next_run_at is None
    first.refresh_from_db()
    assert first.http_headers == job.http_headers


def test_spec_masks_header_values(alice):
    spec = services.job_to_spec(factories.job(alice, action=http_action()))
    assert spec["action"]["headers"] == {"Authorization": "••••", "X-Trace": "••••"}
    assert "anchor" not in spec["schedule"]


def test_request_run_queues_a_manual_run_and_sends_it(alice, sent_runs):
    job = factories.job(alice)
    run = services.job_request_run(job=job, actor=alice)
    assert (run.trigger, run.status) == ("manual", "queued")
    assert sent_runs == [run]
    assert events(job)[-1] == ("run_requested", "alice")


def test_runs_prune_deletes_finished_runs_past_retention_only(alice, settings):
    settings.RUNS_RETENTION_DAYS = 30
    job = factories.job(alice)
    now = timezone.now()

    old = factories.run_row(job, now - timedelta(days=40))
    stuck = factories.run_row(job, now - timedelta(days=40, minutes=1), status=RunStatus.RUNNING)
    recent = factories.run_row(job, now - timedelta(days=5), status=RunStatus.FAILED)
    assert services.runs_prune(now=now) == 1
    assert set(JobRun.objects.values_list("pk", flat=True)) == {stuck.pk, recent.pk}
    assert not JobRun.objects.filter(pk=old.pk).exists()
    assert events(job)  # the audit trail is not pruned with the runs


# --- cache invalidation -------------------------------------------------------------


# Commits for real: the cache is bumped once a write's transaction commits.
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    "write",
    [
        lambda job, actor: services.job_update(job=job, actor=actor, data={"description": "x"}),
        lambda job, actor: services.job_pause(job=job, actor=actor),
        lambda job, actor: services.job_delete(job=job, actor=actor),
        lambda job, actor: services.job_duplicate(job=job, actor=actor),
        lambda job, actor: services.job_request_run(job=job, actor=actor),
        lambda job, actor: services.jobs_pause_for_deactivated_owner(owner=job.owner),
        lambda job, actor: factories.job(job.owner),
    ],
    ids=["update", "pause", "delete", "duplicate", "run", "deactivated", "create"],
)
def test_every_write_bumps_the_owners_and_the_global_cache_version(alice, sent_runs, write):
    job = factories.job(alice)
    before = version_key(alice)
    staff_before = job_cache.lookup(scope="list", owner_id=None, staff=True, path="/", query="").version
    write(job, alice)
    assert version_key(alice) != before
    assert job_cache.lookup(scope="list", owner_id=None, staff=True, path="/", query="").version != staff_before


# Commits for real: the cache is bumped once a write's transaction commits.
@pytest.mark.django_db(transaction=True)
def test_resume_bumps_the_cache_version(alice):
    job = factories.job(alice, enabled=False)
    before = version_key(alice)
    services.job_resume(job=job, actor=alice)
    assert version_key(alice) != before


@pytest.mark.django_db(transaction=True)
def test_the_cache_is_bumped_only_when_the_write_commits(alice):
    # Bumped before the commit, a reader could cache the pre-write rows under the new version.
    before = version_key(alice)
    with transaction.atomic():
        job = factories.job(alice)
        assert version_key(alice) == before
    assert version_key(alice) != before

    committed = version_key(alice)
    with pytest.raises(RuntimeError), transaction.atomic():
        services.job_update(job=job, actor=alice, data={"description": "rolled back"})
        raise RuntimeError
    assert version_key(alice) == committed
    job.refresh_from_db()
    assert job.description != "rolled back"


def test_a_write_that_fails_half_way_leaves_nothing_behind(alice, make_user):
    # Resuming a job paused for a deactivated owner is staff-only; the edits made in the same call roll back.
    job = factories.job(alice)
    services.jobs_pause_for_deactivated_owner(owner=alice)
    job.refresh_from_db()
    with pytest.raises(PermissionDenied):
        services.job_update(job=job, actor=alice, data={"description": "changed", "enabled": True})
    job.refresh_from_db()
    assert (job.description, job.enabled) == ("", False)
    assert [kind for kind, _ in events(job)][-1] == "paused"
