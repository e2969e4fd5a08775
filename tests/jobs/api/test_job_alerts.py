"""A job's alert settings (`alerts_enabled`, `alert_channels`) and `/api/v1/jobs/{id}/alerts/`."""

from __future__ import annotations

import pytest

from jobs import services
from jobs.models import AlertKind
from tests import factories

pytestmark = pytest.mark.django_db


def channel(owner, name="hook"):
    return services.channel_create(
        owner=owner, data={"name": name, "kind": "webhook", "target": "https://hooks.example.com/a"}
    )


def test_a_job_shows_its_alert_settings(api, user):
    job = factories.job(user)
    body = api.get(f"/api/v1/jobs/{job.pk}/").json()
    assert (body["alerts_enabled"], body["alert_channels"]) == (True, [])


def test_a_job_may_name_its_owners_channels(api, user):
    mine = channel(user)
    response = api.post(
        "/api/v1/jobs/", factories.job_data(alert_channels=[str(mine.pk)], alerts_enabled=False), format="json"
    )
    assert response.status_code == 201, response.content
    assert (response.json()["alert_channels"], response.json()["alerts_enabled"]) == ([str(mine.pk)], False)
    listed = api.get("/api/v1/jobs/").json()["results"][0]
    assert listed["alert_channels"] == [str(mine.pk)]


def test_another_users_channel_is_a_400(api, user, make_user):
    theirs = channel(make_user("bob"))
    job = factories.job(user)
    response = api.patch(f"/api/v1/jobs/{job.pk}/", {"alert_channels": [str(theirs.pk)]}, format="json")
    assert response.status_code == 400
    assert "Not your alert channels" in str(response.json())
    bad = api.patch(f"/api/v1/jobs/{job.pk}/", {"alert_channels": ["nope"]}, format="json")
    assert bad.status_code == 400
    assert api.patch(f"/api/v1/jobs/{job.pk}/", {"alerts_enabled": "yes"}, format="json").status_code == 400


def test_a_put_of_what_get_returned_keeps_the_alert_settings(api, user):
    mine = channel(user)
    job = factories.job(user, alert_channels=[str(mine.pk)])
    body = api.get(f"/api/v1/jobs/{job.pk}/").json()
    assert api.put(f"/api/v1/jobs/{job.pk}/", body, format="json").status_code == 200
    job.refresh_from_db()
    assert job.alert_channels == [str(mine.pk)]


def test_the_alert_history_with_deliveries(api, user, make_user, login):
    mine = channel(user)
    job = factories.job(user)
    services.alert_raise(job=job, kind=AlertKind.FAILED, slot=job.next_run_at, details={"error": "boom"})
    services.alert_raise(job=job, kind=AlertKind.RECOVERED, details={})
    response = api.get(f"/api/v1/jobs/{job.pk}/alerts/")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2
    assert [a["kind"] for a in body["results"]] == ["recovered", "failed"]
    failed = body["results"][1]
    assert failed["details"] == {"error": "boom"} and failed["job"] == str(job.pk)
    [delivery] = failed["deliveries"]
    assert (delivery["channel"], delivery["channel_name"], delivery["status"]) == (str(mine.pk), "hook", "pending")
    assert mine.secret not in response.content.decode()
    # Another user's job: 404.
    assert login(make_user("bob")).get(f"/api/v1/jobs/{job.pk}/alerts/").status_code == 404
