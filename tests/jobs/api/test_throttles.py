"""jobs.api.throttles: job writes and run-now are rate-limited per user (issue 15)."""

from __future__ import annotations

import pytest

from jobs.models import Job
from tests.factories import job_data
from tests.jobs.api.conftest import assert_error

URL = "/api/v1/jobs/"


@pytest.fixture
def low_rates(settings):
    settings.API_RATE_JOB_WRITES = "3/min"
    settings.API_RATE_RUN_NOW = "2/min"


def test_creates_over_the_rate_are_429_with_retry_after(api, low_rates):
    codes = [api.post(URL, job_data(), format="json").status_code for _ in range(5)]

    assert codes == [201, 201, 201, 429, 429]
    response = api.post(URL, job_data(), format="json")
    error = assert_error(response, 429, "throttled")
    assert "retry in" in error["message"]
    assert 0 < int(response["Retry-After"]) <= 60
    assert Job.objects.count() == 3


def test_edits_and_deletes_count_as_writes(api, user, make_job, low_rates):
    job = make_job(user)
    assert api.patch(f"{URL}{job.pk}/", {"description": "a"}, format="json").status_code == 200
    assert api.put(f"{URL}{job.pk}/", job_data(name=job.name), format="json").status_code == 200
    assert api.delete(f"{URL}{job.pk}/").status_code == 204
    assert api.post(URL, job_data(), format="json").status_code == 429


def test_one_users_rate_does_not_touch_another(api, bob, login, low_rates):
    for _ in range(3):
        api.post(URL, job_data(), format="json")
    assert api.post(URL, job_data(), format="json").status_code == 429
    assert login(bob).post(URL, job_data(), format="json").status_code == 201


def test_reads_are_not_throttled(api, low_rates):
    assert {api.get(URL).status_code for _ in range(10)} == {200}


def test_run_now_over_the_rate_is_429(api, user, make_job, low_rates, sent_runs):
    job = make_job(user)
    codes = [api.post(f"{URL}{job.pk}/run/").status_code for _ in range(4)]

    assert codes == [202, 202, 429, 429]
    assert len(sent_runs) == 2
