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
