"""The job list: words for schedules, badges, the 20-run strip, search, filters, and a bounded query count."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import time_machine
from django.test import Client
from django.utils import timezone

from jobs.models import RunStatus
from tests import factories

STRIP_COLOURS = {
    RunStatus.SUCCEEDED: "succeeded",
    RunStatus.FAILED: "failed",
    RunStatus.TIMED_OUT: "timed_out",
    RunStatus.SKIPPED: "skipped",
    RunStatus.MISSED: "missed",
}


def rows(html: str) -> list[str]:
    body = html.split('id="result_list"', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return re.findall(r"<tr.*?</tr>", body, flags=re.S)


def listed_names(response: Any) -> list[str]:
    return [job.name for job in response.context["cl"].result_list]


@time_machine.travel("2025-06-02 06:00:00Z", tick=False)
def test_row_shows_schedule_in_words_next_run_and_last_status(
    staff_client: Client, user: Any, make_job: Any, make_run: Any
) -> None:
    job = make_job(user, name="weekly", schedule={"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"})
    make_run(job, status=RunStatus.FAILED, scheduled_for=timezone.now() - timedelta(days=7))
    html = staff_client.get("/admin/jobs/job/").content.decode()
    (row,) = rows(html)
    assert "Every Monday at 09:00 (Europe/Berlin)" in row
    assert "alice" in row
    assert "in 1\xa0hour" in row  # 09:00 CEST is 07:00 UTC: an hour away
    assert "Mon 2025-06-02 09:00 CEST" in row
    assert 'class="job-badge job-badge--failed"' in row


def test_strip_has_one_linked_square_per_recent_run_coloured_by_outcome(
    staff_client: Client, user: Any, make_job: Any, make_run: Any
) -> None:
    job = make_job(user)
    runs = [make_run(job, status=status) for status in STRIP_COLOURS]
    for _ in range(20):
        runs.append(make_run(job, status=RunStatus.SUCCEEDED))
    html = staff_client.get("/admin/jobs/job/").content.decode()
    squares = re.findall(r'<a class="run-square run-square--(\w+)" href="([^"]+)"', html)
    assert len(squares) == 20  # only the last 20
    newest = runs[-20:]  # oldest first, newest at the right
    assert [href for _, href in squares] == [f"/admin/jobs/jobrun/{run.pk}/change/" for run in newest]
    assert [colour for colour, _ in squares] == [STRIP_COLOURS[run.status] for run in newest]


def test_strip_colours(staff_client: Client, user: Any, make_job: Any, make_run: Any) -> None:
    job = make_job(user)
    for status in STRIP_COLOURS:
        make_run(job, status=status)
    html = staff_client.get("/admin/jobs/job/").content.decode()
    colours = re.findall(r'<a class="run-square run-square--(\w+)"', html)
    assert colours == ["succeeded", "failed", "timed_out", "skipped", "missed"]
    css = (Path(__file__).parents[3] / "jobs/static/jobs/admin.css").read_text()
    assert ".run-square--succeeded { background: var(--job-ok); }" in css
    assert "--job-ok: #1e7b3a;" in css  # green
    assert ".run-square--failed, .run-square--timed_out { background: var(--job-fail); }" in css
    assert "--job-fail: #b83232;" in css  # red
    assert "--job-miss: #975a00;" in css  # amber
    assert "--job-skip: #676d74;" in css  # grey


def test_paused_job_shows_paused_and_why(staff_client: Client, user: Any, make_job: Any) -> None:
    make_job(user, enabled=False)
    html = staff_client.get("/admin/jobs/job/").content.decode()
    assert "paused by a user" not in html  # saved paused: no reason recorded by a pause
    assert '<span class="job-paused">paused</span>' in html


def test_search_by_name_and_owner_username(staff_client: Client, make_user: Any, make_job: Any) -> None:
    ann, bob = make_user("ann"), make_user("bob")
    make_job(ann, name="backup-db")
    make_job(bob, name="send-digest")
    assert listed_names(staff_client.get("/admin/jobs/job/", {"q": "backup"})) == ["backup-db"]
    assert listed_names(staff_client.get("/admin/jobs/job/", {"q": "bob"})) == ["send-digest"]


def test_search_by_an_http_jobs_url_and_a_task_jobs_task_name(staff_client: Client, user: Any, make_job: Any) -> None:
    make_job(user, name="ping", action=factories.http_action(url="https://billing.example.com/health"))
    make_job(user, name="nightly", action={"type": "task", "task": "heartbeat"})
    make_job(user, name="other", action={"type": "task", "task": "echo"})
    assert listed_names(staff_client.get("/admin/jobs/job/", {"q": "billing.example"})) == ["ping"]
    assert listed_names(staff_client.get("/admin/jobs/job/", {"q": "heartbeat"})) == ["nightly"]


def test_filters_enabled_last_status_kind_owner(
    staff_client: Client, make_user: Any, make_job: Any, make_run: Any
) -> None:
    ann, bob = make_user("ann"), make_user("bob")
    failing = make_job(ann, name="a-failing")
    make_run(failing, status=RunStatus.TIMED_OUT)
    make_job(ann, name="b-paused", enabled=False)
    make_job(bob, name="c-interval", schedule={"kind": "interval", "every": 5, "unit": "minutes"})

    def names(**query: str) -> list[str]:
        return listed_names(staff_client.get("/admin/jobs/job/", query))

    assert names(enabled__exact="0") == ["b-paused"]
    assert names(last_status="failing") == ["a-failing"]
    assert names(last_status="timed_out") == ["a-failing"]
    assert names(last_status="never") == ["b-paused", "c-interval"]
    assert names(schedule_kind__exact="interval") == ["c-interval"]
    assert names(owner__id__exact=str(bob.pk)) == ["c-interval"]


@pytest.mark.parametrize("count", [2, 30])
def test_list_costs_a_bounded_number_of_queries(
    staff_client: Client,
    make_user: Any,
    make_job: Any,
    make_run: Any,
    django_assert_max_num_queries: Any,
    count: int,
) -> None:
    owners = [make_user(f"owner{i}") for i in range(3)]
    for i in range(count):
        job = make_job(owners[i % 3], name=f"job-{i:02d}")
        for status in (RunStatus.SUCCEEDED, RunStatus.FAILED):
            make_run(job, status=status)
    # Session, user, filtered and total counts, the page of jobs joined to owners, the owner filter's users.
    with django_assert_max_num_queries(6) as queries:
        response = staff_client.get("/admin/jobs/job/")
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == count
    assert not [q["sql"] for q in queries.captured_queries if "jobs_jobrun" in q["sql"]]  # the strip reads the job row
