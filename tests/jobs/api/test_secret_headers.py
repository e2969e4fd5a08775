"""Header values of http actions are write-only: no response and no log line ever shows them."""

from __future__ import annotations

import logging

from jobs.models import Job
from tests.factories import job_data
from tests.jobs.api.conftest import SECRET, http_action


def test_secret_never_appears_in_any_response_or_log(api, login, staff, caplog):
    caplog.set_level(logging.DEBUG)
    responses = []

    created = api.post("/api/v1/jobs/", job_data(name="secretive", action=http_action()), format="json")
    job_id = created.json()["id"]
    detail = f"/api/v1/jobs/{job_id}/"
    responses += [created, api.get("/api/v1/jobs/"), api.get("/api/v1/jobs/"), api.get(detail), api.get(detail)]
    # Failing writes that carry the secret: their error bodies must not echo it.
    responses.append(api.post("/api/v1/jobs/", job_data(name="secretive", action=http_action()), format="json"))
    responses.append(api.patch(detail, {"action": http_action(url="ftp://x")}, format="json"))
    responses.append(
        api.patch(detail, {"action": http_action(headers={"Authorization": SECRET + "\n"})}, format="json")
    )
    responses.append(api.put(detail, api.get(detail).json(), format="json"))
    responses.append(api.patch(detail, {"action": http_action(headers={"Authorization": "••••"})}, format="json"))
    responses.append(api.post(f"{detail}run/"))
    responses += [api.get(f"{detail}runs/"), api.get(f"{detail}events/")]
    responses += [login(staff).get("/api/v1/jobs/"), login(staff).get(detail)]

    for response in responses:
        assert response.status_code < 500, response.content
        assert SECRET not in response.content.decode()
        assert "s3cr3t" not in response.content.decode()
    assert "s3cr3t" not in caplog.text
    # ...and the stored value was kept through the masked PUT and PATCH.
    assert Job.objects.get(pk=job_id).http_headers["Authorization"] == SECRET


# --- secrets move with their URL (issue 15) -----------------------------------------


def _masked_patch(client, job_id, url):
    action = http_action(url=url, headers={"Authorization": "••••", "X-Trace": "••••"})
    return client.patch(f"/api/v1/jobs/{job_id}/", {"action": action}, format="json")


def test_a_masked_header_is_kept_while_the_origin_stays(api):
    job_id = api.post("/api/v1/jobs/", job_data(action=http_action()), format="json").json()["id"]

    response = _masked_patch(api, job_id, "http://REPORTS.internal:80/other/path?x=1")

    assert response.status_code == 200, response.content
    assert Job.objects.get(pk=job_id).http_headers["Authorization"] == SECRET


def test_staff_cannot_send_the_owners_secret_to_another_host(api, login, staff):
    job_id = api.post("/api/v1/jobs/", job_data(action=http_action()), format="json").json()["id"]

    for url in ("http://collector.example.net/run", "https://reports.internal/run", "http://reports.internal:8080/"):
        response = _masked_patch(login(staff), job_id, url)
        assert response.status_code == 400, response.content
        fields = response.json()["error"]["fields"]
        assert set(fields) == {"action.headers.Authorization", "action.headers.X-Trace"}
        assert "Enter the value again" in fields["action.headers.Authorization"][0]
    job = Job.objects.get(pk=job_id)
    assert job.http_url == "http://reports.internal/run"
    assert job.http_headers["Authorization"] == SECRET


def test_a_new_host_with_the_values_retyped_is_accepted(api):
    job_id = api.post("/api/v1/jobs/", job_data(action=http_action()), format="json").json()["id"]

    action = http_action(url="http://collector.example.net/run", headers={"Authorization": "Bearer new"})
    response = api.patch(f"/api/v1/jobs/{job_id}/", {"action": action}, format="json")

    assert response.status_code == 200, response.content
    assert Job.objects.get(pk=job_id).http_headers == {"Authorization": "Bearer new"}


def test_a_header_value_http_cannot_send_is_refused(api):
    action = http_action(headers={"X-Name": "Zoë ✓"})
    response = api.post("/api/v1/jobs/", job_data(action=action), format="json")

    assert response.status_code == 400
    assert "Latin-1" in response.json()["error"]["fields"]["action.headers.X-Name"][0]
    assert not Job.objects.exists()
