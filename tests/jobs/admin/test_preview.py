"""The live preview behind the job form: the form's schedule inputs, the service's validation, 5 fire times."""

from __future__ import annotations

from typing import Any

import time_machine
from django.test import Client


def preview(client: Client, **fields: str) -> dict[str, Any]:
    response = client.post("/admin/jobs/job/preview/", fields)
    assert response.status_code == 200
    return response.json()


@time_machine.travel("2025-03-27 12:00:00Z", tick=False)
def test_phrase_gives_the_next_five_fires_in_the_jobs_zone(staff_client: Client) -> None:
    data = preview(staff_client, kind="phrase", phrase="every day at 02:30", timezone="Europe/Berlin")
    assert data["ok"] is True
    assert data["human"] == "Every day at 02:30 (Europe/Berlin)"
    assert [run["local"] for run in data["next_runs"]] == [
        "Fri 2025-03-28 02:30 CET",
        "Sat 2025-03-29 02:30 CET",
        "Sun 2025-03-30 03:00 CEST",  # spring forward: 02:30 does not exist, the job fires after the gap
        "Mon 2025-03-31 02:30 CEST",
        "Tue 2025-04-01 02:30 CEST",
    ]
    assert data["next_runs"][0]["utc"] == "Fri 2025-03-28 01:30 UTC"
    assert data["next_runs"][0]["relative"] == "in 13\xa0hours, 30\xa0minutes"
    assert "Every day at 02:30 (Europe/Berlin)" in data["html"]


@time_machine.travel("2025-03-27 12:00:00Z", tick=False)
def test_kind_fields_are_used_for_a_kind(staff_client: Client) -> None:
    data = preview(staff_client, kind="interval", every="90", unit="minutes", phrase="ignored", timezone="UTC")
    assert data["human"] == "Every 90 minutes, counted from 2025-03-27 12:00 (UTC)"
    assert len(data["next_runs"]) == 5
    data = preview(staff_client, kind="once", at="2025-12-31T23:59", timezone="America/New_York")
    assert [run["local"] for run in data["next_runs"]] == ["Wed 2025-12-31 23:59 EST"]


def test_invalid_input_returns_the_services_messages_per_input(staff_client: Client) -> None:
    data = preview(staff_client, kind="cron", cron="61 * * *", timezone="Nowhere/Land")
    assert data["ok"] is False
    assert set(data["errors"]) == {"cron", "timezone"}
    assert data["errors"]["timezone"][0]["message"] == (
        'Unknown time zone "Nowhere/Land"; use an IANA name such as "Europe/Berlin".'
    )
    assert "Cron expression: " in data["html"]


def test_empty_phrase_asks_for_one(staff_client: Client) -> None:
    data = preview(staff_client, kind="phrase", phrase="", timezone="UTC")
    assert data["ok"] is False
    assert list(data["errors"]) == ["phrase"]


def test_preview_is_post_only(staff_client: Client) -> None:
    assert staff_client.get("/admin/jobs/job/preview/").status_code == 405


def test_preview_needs_the_csrf_token(staff: Any) -> None:
    client = Client(enforce_csrf_checks=True)
    client.force_login(staff)
    assert client.post("/admin/jobs/job/preview/", {"kind": "phrase", "phrase": "hourly"}).status_code == 403
