"""Runs (and audit events) in the admin are read-only; a run's page shows everything and links to its job."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from jobs import services
from jobs.models import EventKind, JobEvent, JobRun, RunStatus, RunTrigger


@pytest.fixture
def run(user: Any, make_job: Any, make_run: Any) -> JobRun:
    job = make_job(user, name="reporter")
    return make_run(
        job,
        status=RunStatus.FAILED,
        result='{"status": 500, "body": "' + "r" * 3000 + '"}',
        error="HTTPError: 500 Internal Server Error\n" + "e" * 3000,
    )


def test_run_page_shows_full_result_and_error_and_links_to_the_job(staff_client: Client, run: JobRun) -> None:
    response = staff_client.get(f"/admin/jobs/jobrun/{run.pk}/change/")
    html = response.content.decode()
    assert "r" * 3000 in html and "e" * 3000 in html  # not truncated
    assert f'href="/admin/jobs/job/{run.job_id}/change/"' in html
    assert "job-badge--failed" in html
    assert 'name="_save"' not in html  # no save buttons: read-only
    assert response.context["has_change_permission"] is False


def test_runs_cannot_be_added_changed_or_deleted(staff_client: Client, run: JobRun) -> None:
    assert staff_client.get("/admin/jobs/jobrun/add/").status_code == 403
    response = staff_client.post(f"/admin/jobs/jobrun/{run.pk}/change/", {"status": "succeeded"})
    assert response.status_code == 403
    assert staff_client.post(f"/admin/jobs/jobrun/{run.pk}/delete/", {"post": "yes"}).status_code == 403
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    html = staff_client.get("/admin/jobs/jobrun/").content.decode()
    assert 'name="action"' not in html  # no bulk delete either


def test_run_list_filters(staff_client: Client, user: Any, make_job: Any, make_run: Any) -> None:
    a, b = make_job(user, name="a"), make_job(user, name="b")
    now = timezone.now()
    failed = make_run(a, status=RunStatus.FAILED, scheduled_for=now - timedelta(minutes=1))
    manual = make_run(b, status=RunStatus.SUCCEEDED, trigger=RunTrigger.MANUAL, scheduled_for=now - timedelta(hours=1))
    old = make_run(b, status=RunStatus.SUCCEEDED, scheduled_for=now - timedelta(days=20))

    def listed(**query: str) -> set[Any]:
        response = staff_client.get("/admin/jobs/jobrun/", query)
        return {r.pk for r in response.context["cl"].result_list}

    assert listed(status__exact="failed") == {failed.pk}
    assert listed(trigger__exact="manual") == {manual.pk}
    assert listed(job__id__exact=str(b.pk)) == {manual.pk, old.pk}
    since = (now - timedelta(days=7)).isoformat()
    assert listed(scheduled_for__gte=since) == {failed.pk, manual.pk}
    html = staff_client.get("/admin/jobs/jobrun/").content.decode()
    for title in ("By status", "By trigger", "By scheduled for", "By job"):
        assert title in html


def test_run_list_costs_a_bounded_number_of_queries(
    staff_client: Client, user: Any, make_job: Any, make_run: Any, django_assert_max_num_queries: Any
) -> None:
    for i in range(3):
        job = make_job(user, name=f"job-{i}")
        for _ in range(10):
            make_run(job)
    # Session, user, two counts, the runs joined to their jobs, the job filter's choices.
    with django_assert_max_num_queries(6):
        assert staff_client.get("/admin/jobs/jobrun/").status_code == 200


def test_events_are_read_only_and_keep_a_deleted_jobs_trail(
    staff_client: Client, staff: Any, user: Any, make_job: Any
) -> None:
    job = make_job(user, name="short-lived")
    job_id = job.pk
    services.job_delete(job=job, actor=staff)
    response = staff_client.get("/admin/jobs/jobevent/", {"job_ref": str(job_id)})
    events = list(response.context["cl"].result_list)
    assert [event.kind for event in events] == [EventKind.DELETED, EventKind.CREATED]
    assert "short-lived" in response.content.decode() and "(deleted)" in response.content.decode()
    event = JobEvent.objects.filter(job_ref=job_id).first()
    assert staff_client.post(f"/admin/jobs/jobevent/{event.pk}/change/", {}).status_code == 403
    assert staff_client.get("/admin/jobs/jobevent/add/").status_code == 403
