"""The overview page: job counts, runs in the last 24 h by status, the per-hour SVG chart, the next 10 fires."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.test import Client

from jobs import services
from jobs.beat.lease import Lease
from jobs.beat.partitions import Partitions
from jobs.models import Job, RunStatus

NOW = datetime(2025, 6, 2, 12, 30, tzinfo=UTC)


@pytest.fixture
def fleet(user: Any, staff: Any, make_job: Any, make_run: Any) -> dict[str, Job]:
    with time_machine.travel(NOW, tick=False):
        every_10 = make_job(user, name="every-10-min", schedule={"kind": "cron", "cron": "*/10 * * * *"})
        hourly = make_job(user, name="hourly", schedule={"phrase": "hourly"})
        make_job(user, name="weekly", schedule={"phrase": "every monday at 09:00", "timezone": "Europe/Berlin"})
        paused = make_job(user, name="paused", enabled=False)
        failing = make_job(user, name="failing")
        services.job_pause(job=make_job(user, name="paused-too"), actor=staff)
        # Two hours ago: 3 succeeded, 1 failed, 1 missed. Ten hours ago: 1 timed out, 1 skipped.
        # Only `failing` is failing: a job's last status is that of its last run that ran.
        two_h = NOW.replace(minute=5) - timedelta(hours=2)
        for i in range(3):
            make_run(every_10, status=RunStatus.SUCCEEDED, scheduled_for=two_h + timedelta(minutes=i))
        make_run(failing, status=RunStatus.FAILED, scheduled_for=two_h)
        make_run(hourly, status=RunStatus.MISSED, scheduled_for=two_h + timedelta(minutes=10))
        ten_h = NOW - timedelta(hours=10)
        make_run(failing, status=RunStatus.TIMED_OUT, scheduled_for=ten_h)
        make_run(every_10, status=RunStatus.SKIPPED, scheduled_for=ten_h)
        make_run(every_10, status=RunStatus.SUCCEEDED, scheduled_for=NOW - timedelta(days=2))  # outside the window
    return {"every_10": every_10, "hourly": hourly, "paused": paused, "failing": failing}


def page(client: Client) -> str:
    with time_machine.travel(NOW, tick=False):
        response = client.get("/admin/overview/")
    assert response.status_code == 200
    return response.content.decode()


def test_job_counts(staff_client: Client, fleet: dict[str, Job]) -> None:
    html = page(staff_client)
    counts = dict(re.findall(r'data-count="(\w+)">(\d+)<', html))
    assert counts == {"total": "6", "enabled": "4", "paused": "2", "failing": "1"}
    assert 'href="/admin/jobs/job/?last_status=failing"' in html


def test_runs_in_the_last_24_hours_by_status(staff_client: Client, fleet: dict[str, Job]) -> None:
    html = page(staff_client)
    counts = dict(re.findall(r'data-status="(\w+)">(\d+)<', html))
    assert counts == {
        "queued": "0",
        "running": "0",
        "succeeded": "3",
        "failed": "1",
        "timed_out": "1",
        "skipped": "1",
        "missed": "1",
    }
    assert "7 in total" in html


def test_chart_is_inline_svg_with_24_hourly_bars_stacked_by_outcome(
    staff_client: Client, fleet: dict[str, Job]
) -> None:
    html = page(staff_client)
    svg = html.split('<svg class="runs-chart"', 1)[1].split("</svg>", 1)[0]
    titles = re.findall(r"<title>(.*?)</title>", svg)
    assert len(titles) == 24
    assert titles[0].startswith("13:00-14:00 UTC")  # 23 hours before the current hour
    assert titles[-1] == "12:00-13:00 UTC: no runs"
    assert "10:00-11:00 UTC: 3 succeeded, 1 failed / timed out, 1 missed" in titles
    assert "02:00-03:00 UTC: 1 failed / timed out, 1 skipped" in titles
    series = re.findall(r'data-series="(\w+)"', svg)
    assert sorted(series) == ["failed", "failed", "missed", "skipped", "succeeded"]
    assert "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")  # nothing fetched


def test_chart_scales_to_the_busiest_hour(staff_client: Client, fleet: dict[str, Job]) -> None:
    html = page(staff_client)
    svg = html.split('<svg class="runs-chart"', 1)[1].split("</svg>", 1)[0]
    heights = [float(h) for h in re.findall(r'height="([\d.]+)" fill="#2e9e4f"', svg)]
    axis = re.findall(r'dominant-baseline="middle">(\d+)</text>', svg)
    assert axis == ["0", "2", "4", "6", "8"]  # the busiest hour has 5 runs: 4 round steps above it
    assert heights == [pytest.approx(196 * 3 / 8, abs=0.1)]  # 3 of 8 on a 196-unit plot


def test_next_ten_fires_across_jobs_in_order(staff_client: Client, fleet: dict[str, Job]) -> None:
    html = page(staff_client)
    upcoming = html.split('id="upcoming-heading"', 1)[1].split("</table>", 1)[0]
    rows = re.findall(r'<tr class="upcoming-fire">(.*?)</tr>', upcoming, flags=re.S)
    assert len(rows) == 10
    names = [re.search(r'">([\w-]+)</a>', row).group(1) for row in rows]
    # */10 fires at 12:40, 12:50, 13:00 (as does hourly), 13:10, ...; the weekly job is days away.
    assert names == ["every-10-min"] * 3 + ["hourly"] + ["every-10-min"] * 6
    assert "paused" not in names
    assert "Mon 2025-06-02 12:40 UTC" in rows[0]
    assert "in 10\xa0minutes" in rows[0]


@pytest.mark.parametrize(
    ("peak", "step"), [(0, 1), (4, 1), (5, 2), (9, 3), (36, 9), (37, 10), (101, 30), (1000, 250), (9000, 2500)]
)
def test_chart_gridlines_use_round_steps(peak: int, step: int) -> None:
    from jobs.diagnostics.overview import grid_step

    assert grid_step(peak) == step


def test_latest_failures_link_to_their_runs(staff_client: Client, fleet: dict[str, Job]) -> None:
    html = page(staff_client)
    failures = html.split('id="failures-heading"', 1)[1].split("</table>", 1)[0]
    assert failures.count("/admin/jobs/jobrun/") == 2  # the failed and the timed-out run


def test_empty_overview_renders(staff_client: Client) -> None:
    html = page(staff_client)
    assert "No enabled job has an upcoming fire." in html
    assert "0 in total" in html


def test_the_active_beat_is_shown(staff_client: Client) -> None:
    assert "No beat has ever run" in page(staff_client)
    with time_machine.travel(NOW - timedelta(seconds=2), tick=False):
        Lease(holder="host-a:11:aaaaaa").refresh()
    html = page(staff_client)
    assert re.search(
        r"Active beat: <strong>host-a:11:aaaaaa</strong>\s*<span class=\"quiet\">&middot; lease renewed 2 s ago", html
    )
    assert "overview-beat--down" not in html


def test_a_silent_or_released_lease_is_flagged(staff_client: Client) -> None:
    lease = Lease(holder="host-a:11:aaaaaa")
    with time_machine.travel(NOW - timedelta(minutes=5), tick=False):
        lease.refresh()
    html = page(staff_client)
    assert "overview-beat--down" in html and "not renewed for a while" in html
    lease.release()
    html = page(staff_client)
    assert "No beat is active" in html and "overview-beat--down" in html


def test_overview_costs_a_bounded_number_of_queries(
    staff_client: Client, fleet: dict[str, Job], make_job: Any, user: Any, django_assert_max_num_queries: Any
) -> None:
    for i in range(15):
        make_job(user, name=f"extra-{i}")
    # Session, user, job counts, runs per hour and status, upcoming jobs, slots claimed ahead (and
    # their jobs, when not among the upcoming ones), latest failures, the beat lease.
    with django_assert_max_num_queries(9), time_machine.travel(NOW, tick=False):
        assert staff_client.get("/admin/overview/").status_code == 200


def test_admin_index_and_every_page_link_to_the_overview(staff_client: Client) -> None:
    html = staff_client.get("/admin/").content.decode()
    assert 'class="overview-teaser" href="/admin/overview/"' in html
    assert '<a href="/admin/overview/">Overview</a>' in staff_client.get("/admin/jobs/jobrun/").content.decode()


def test_each_partitions_holder_is_shown(staff_client: Client, settings: Any) -> None:
    settings.JOBS_BEAT_PARTITIONS = 2
    with time_machine.travel(NOW - timedelta(seconds=2), tick=False):
        a = Partitions(count=2, holder="host-a:11:aaaaaa")
        a.refresh()
        a.leases[1].release()
    html = page(staff_client)
    assert "Beats share the jobs in 2 partitions" in html
    assert re.search(r'data-partition="0/2">partition 0/2:\s*<strong>host-a:11:aaaaaa</strong>', html)
    assert re.search(r'data-partition="1/2">partition 1/2:\s*<strong>no beat</strong>', html)
    assert "overview-beat--down" in html  # a partition nobody holds fires nothing
