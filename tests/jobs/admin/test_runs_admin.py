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
    for title in ("By status", "By trigger", "By scheduled for"):
        assert title in html


def test_the_job_filter_shows_only_the_chosen_job_never_one_link_per_job(
    staff_client: Client, user: Any, make_job: Any, make_run: Any
) -> None:
    jobs = [make_job(user, name=f"job-{i:02}") for i in range(12)]
    make_run(jobs[3])
    unfiltered = staff_client.get("/admin/jobs/jobrun/").content.decode()
    assert "By job" not in unfiltered
    assert not any(f"job__id__exact={job.pk}" in unfiltered for job in jobs)

    filtered = staff_client.get("/admin/jobs/jobrun/", {"job__id__exact": str(jobs[3].pk)})
    html = filtered.content.decode()
    assert "By job" in html and "job-03" in html
    assert [job.name for job in jobs if f"job__id__exact={job.pk}" in html] == ["job-03"]
    assert len(filtered.context["cl"].result_list) == 1


@pytest.mark.parametrize("value", ["not-a-uuid", "1; drop", "0" * 300])
def test_a_malformed_job_filter_is_the_admins_error_page_not_a_500(staff_client: Client, value: str) -> None:
    response = staff_client.get("/admin/jobs/jobrun/", {"job__id__exact": value})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")


def test_a_run_page_is_titled_by_its_job_and_slot(staff_client: Client, run: JobRun) -> None:
    html = staff_client.get(f"/admin/jobs/jobrun/{run.pk}/change/").content.decode()
    assert "<h1>Run of reporter</h1>" in html
    assert "| Run of reporter |" in html.split("<title>", 1)[1].split("</title>", 1)[0]
    assert "Failed" in html.split("<h2>", 1)[1].split("</h2>", 1)[0]


def test_run_list_costs_a_bounded_number_of_queries(
    staff_client: Client, user: Any, make_job: Any, make_run: Any, django_assert_max_num_queries: Any
) -> None:
    for i in range(3):
        job = make_job(user, name=f"job-{i}")
        for _ in range(10):
            make_run(job)
    # Session, user, two counts, the runs joined to their jobs.
    with django_assert_max_num_queries(5):
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


def test_the_runs_of_a_deleted_job_are_none_not_everyones(
    staff_client: Client, user: Any, make_job: Any, make_run: Any
) -> None:
    make_run(make_job(user, name="kept"))
    response = staff_client.get("/admin/jobs/jobrun/", {"job__id__exact": "00000000-0000-4000-8000-000000000000"})
    assert response.status_code == 200
    assert list(response.context["cl"].result_list) == []
    assert "(no such job)" in response.content.decode()
