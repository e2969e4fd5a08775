"""A job's page: the saved schedule's next fires, recent runs (read-only) and the audit trail."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import time_machine
from django.test import Client
from django.utils import timezone

from jobs import services
from jobs.models import Job, RunStatus

from .conftest import SECRET, http_action


def section(html: str, element_id: str) -> str:
    return html.split(f'id="{element_id}"', 1)[1].split("</fieldset>", 1)[0]


@time_machine.travel("2025-06-02 06:00:00Z", tick=False)
def test_page_shows_the_saved_schedules_next_fires(staff_client: Client, user: Any, make_job: Any) -> None:
    job = make_job(user, schedule={"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"})
    html = staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    preview = html.split('id="schedule-preview"', 1)[1].split("</div>", 1)[0]
    assert "Every Monday at 09:00 (Europe/Berlin)" in preview
    assert preview.count("<li>") == 5
    assert "Mon 2025-06-02 09:00 CEST" in preview and "Mon 2025-06-30 09:00 CEST" in preview


def test_recent_runs_show_status_trigger_lateness_duration_and_error(
    staff_client: Client, user: Any, make_job: Any, make_run: Any
) -> None:
    job = make_job(user, schedule={"kind": "cron", "cron": "0 9 * * 1", "timezone": "UTC"})
    slot = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    ok = make_run(job, status=RunStatus.SUCCEEDED, scheduled_for=slot, late_by=1.25, duration_ms=2500)
    bad = make_run(
        job,
        status=RunStatus.FAILED,
        scheduled_for=slot + timedelta(minutes=1),
        late_by=0.1,
        duration_ms=80,
        error="ConnectionError: " + "x" * 500,
    )
    html = staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    runs = section(html, "recent-runs")
    rows = re.findall(r'<tr class="run-row">.*?</tr>', runs, flags=re.S)
    assert len(rows) == 2
    newest, oldest = rows
    assert f"/admin/jobs/jobrun/{bad.pk}/change/" in newest
    assert "job-badge--failed" in newest and "Schedule" in newest
    assert "+0.1 s" in newest and "80 ms" in newest
    assert "ConnectionError: xxx" in newest and "x" * 200 not in newest  # an excerpt, not the whole error
    assert f"/admin/jobs/jobrun/{ok.pk}/change/" in oldest
    assert "+1.2 s" in oldest and "2.5 s" in oldest
    assert f"{slot:%Y-%m-%d %H:%M}" in oldest
    assert f'href="/admin/jobs/jobrun/?job__id__exact={job.pk}"' in runs


def test_recent_runs_are_limited_and_not_editable(
    staff_client: Client, user: Any, make_job: Any, make_run: Any
) -> None:
    job = make_job(user)
    for i in range(25):
        make_run(job, scheduled_for=timezone.now() - timedelta(minutes=i))
    response = staff_client.get(f"/admin/jobs/job/{job.pk}/change/")
    runs = section(response.content.decode(), "recent-runs")
    assert runs.count('<tr class="run-row">') == 20
    assert "<input" not in runs and "<select" not in runs


def test_audit_trail_lists_who_did_what(staff_client: Client, staff: Any, user: Any, make_job: Any) -> None:
    job = make_job(user, action=http_action())
    services.job_update(job=job, actor=user, data={"action": http_action(headers={"Authorization": "new-secret"})})
    services.job_pause(job=Job.objects.get(pk=job.pk), actor=staff)
    services.job_request_run(job=job, actor=staff)
    html = staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    trail = section(html, "audit-trail")
    kinds = re.findall(r'class="event-kind event-kind--(\w+)"', trail)
    assert kinds == ["run_requested", "paused", "updated", "created"]
    assert trail.count(">root<") == 2 and trail.count(">alice<") == 2
    assert "header Authorization: changed" in trail  # not two identical masked values
    assert "new-secret" not in html and SECRET not in html
    assert f'href="/admin/jobs/jobevent/?job_ref={job.pk}"' in trail


def test_state_section_shows_status_and_pause_reason(
    staff_client: Client, staff: Any, user: Any, make_job: Any, make_run: Any
) -> None:
    job = make_job(user)
    make_run(job, status=RunStatus.TIMED_OUT)
    services.job_pause(job=Job.objects.get(pk=job.pk), actor=staff)
    html = staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    assert "job-badge--timed_out" in html
    assert "paused by a user" in html


def test_a_retry_or_manual_runs_delay_is_not_shown_as_lateness(
    staff_client: Client, user: Any, make_job: Any, make_run: Any
) -> None:
    job = make_job(user)
    slot = timezone.now().replace(microsecond=0) - timedelta(hours=1)
    make_run(job, status=RunStatus.SUCCEEDED, scheduled_for=slot, late_by=0.4)
    make_run(job, status=RunStatus.SUCCEEDED, scheduled_for=slot, trigger="retry", attempt=2, late_by=35)
    make_run(job, status=RunStatus.SUCCEEDED, trigger="manual", late_by=2.5)
    runs = section(staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode(), "recent-runs")
    rows = re.findall(r'<tr class="run-row">.*?</tr>', runs, flags=re.S)
    by_trigger = {trigger: row for row in rows for trigger in ("Schedule", "Retry", "Manual") if trigger in row}
    assert "+0.4 s" in by_trigger["Schedule"]
    assert (
        "+35.0 s" not in by_trigger["Retry"] and 'title="retry: started 35.0 s after its slot"' in by_trigger["Retry"]
    )
    assert "+2.5 s" not in by_trigger["Manual"] and "started 2.5 s after the request" in by_trigger["Manual"]


def test_a_jobs_page_leads_with_its_state_and_refreshes_it(staff_client: Client, user: Any, make_job: Any) -> None:
    job = make_job(user, schedule={"kind": "interval", "every": 30, "unit": "seconds"})
    html = staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode()
    state = html.index('class="module aligned job-state"')
    assert state < html.index('name="name"') < html.index('id="recent-runs"')
    assert "Last 20 runs" in html[state : html.index('name="name"')]
    assert re.search(r'<span data-countdown="[^"]+">in \d+', html)  # the next run, ticking
    assert "jobs/live.js" in html


def test_the_job_list_and_the_overview_refresh_themselves(staff_client: Client, user: Any, make_job: Any) -> None:
    make_job(user)
    listing = staff_client.get("/admin/jobs/job/").content.decode()
    assert "jobs/live.js" in listing and "data-countdown=" in listing
    overview = staff_client.get("/admin/overview/").content.decode()
    assert "jobs/live.js" in overview and "data-countdown=" in overview


def test_times_of_what_happened_are_marked_for_the_viewers_zone_and_slots_stay_in_the_jobs(
    staff_client: Client, user: Any, make_job: Any, make_run: Any
) -> None:
    job = make_job(user, schedule={"kind": "cron", "cron": "0 9 * * 1", "timezone": "Europe/Berlin"})
    slot = datetime(2025, 6, 2, 7, 0, tzinfo=UTC)  # 09:00 in Berlin
    make_run(job, status=RunStatus.SUCCEEDED, scheduled_for=slot, late_by=0.25)
    runs = section(staff_client.get(f"/admin/jobs/job/{job.pk}/change/").content.decode(), "recent-runs")
    # The slot: the job's zone, UTC on hover, not rewritten by the browser.
    assert (
        '<time datetime="2025-06-02T07:00:00+00:00" title="Mon 2025-06-02 07:00 UTC">Mon 2025-06-02 09:00 CEST</time>'
        in runs
    )
    # The start: marked for the viewer's zone (live.js), UTC on hover.
    assert re.search(r'<time datetime="2025-06-02T07:00:00\.25\d*\+00:00" title="[^"]+ UTC" data-viewer-zone>', runs)
    events = staff_client.get("/admin/jobs/jobevent/").content.decode()
    assert "data-viewer-zone" in events and " UTC</time>" in events  # one format on every page


def test_a_malformed_job_reference_is_the_admins_error_page_not_every_event(staff_client: Client) -> None:
    response = staff_client.get("/admin/jobs/jobevent/", {"job_ref": "not-a-uuid"})
    assert response.status_code == 302 and response["Location"].endswith("?e=1")
