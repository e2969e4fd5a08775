"""GET /api/v1/jobs/"""

from __future__ import annotations

import pytest
import yaml
from django.core.cache import cache

from jobs import services
from jobs.models import Job
from tests.jobs.api.conftest import SECRET, assert_error, http_action

URL = "/api/v1/jobs/"


@pytest.fixture
def schema_parameters(anon, db) -> dict:
    schema = yaml.safe_load(anon.get("/api/schema/").content)
    return {parameter["name"]: parameter for parameter in schema["paths"][URL]["get"]["parameters"]}


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [job["name"] for job in response.json()["results"]]


def test_lists_only_the_callers_jobs(api, make_job, user, bob):
    make_job(user, name="mine")
    make_job(bob, name="theirs")

    response = api.get(URL)

    assert response.json()["count"] == 1
    assert names(response) == ["mine"]
    assert response.json()["results"][0]["owner"] == "alice"


def test_staff_see_every_users_jobs(login, staff, make_job, user, bob):
    make_job(user, name="a")
    make_job(bob, name="b")
    make_job(staff, name="c")

    response = login(staff).get(URL)

    assert names(response) == ["a", "b", "c"]
    assert [job["owner"] for job in response.json()["results"]] == ["alice", "bob", "root"]


def test_empty_list_is_a_page_with_no_results(api):
    assert api.get(URL).json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_default_page_is_50_and_page_size_goes_up_to_200(api, make_job, user):
    for n in range(60):
        make_job(user, name=f"job-{n:03d}")

    first = api.get(URL).json()
    second = api.get(URL, {"page": 2}).json()
    big = api.get(URL, {"page_size": 200}).json()

    assert first["count"] == 60 and len(first["results"]) == 50
    assert first["next"].endswith("?page=2") and first["previous"] is None
    assert [job["name"] for job in second["results"]] == [f"job-{n:03d}" for n in range(50, 60)]
    assert second["next"] is None
    assert len(big["results"]) == 60


@pytest.mark.parametrize("jobs", [0, 2, 3, 4, 7])
def test_the_first_page_counts_right_at_the_page_boundary(api, make_job, user, jobs):
    for n in range(jobs):
        make_job(user, name=f"job-{n}")
    page = api.get(URL, {"page_size": 3}).json()
    assert page["count"] == jobs
    assert [job["name"] for job in page["results"]] == [f"job-{n}" for n in range(min(jobs, 3))]
    assert (page["next"] is not None) == (jobs > 3)


def test_a_list_that_fits_one_page_reads_the_jobs_table_once(api, make_job, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    make_job(user, name="only")
    with CaptureQueriesContext(connection) as queries:
        assert names(api.get(URL)) == ["only"]
    on_jobs = [q["sql"] for q in queries.captured_queries if "jobs_job" in q["sql"]]
    assert len(on_jobs) == 1 and "COUNT" not in on_jobs[0].upper()


def test_a_list_of_several_pages_counts_the_jobs_without_joining_their_owners(api, make_job, user):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    for n in range(4):
        make_job(user, name=f"job-{n}")
    with CaptureQueriesContext(connection) as queries:
        page = api.get(URL, {"page_size": 3, "page": 2}).json()
    assert page["count"] == 4
    assert [(job["name"], job["owner"]) for job in page["results"]] == [("job-3", "alice")]
    counts = [q["sql"] for q in queries.captured_queries if "COUNT" in q["sql"].upper()]
    assert len(counts) == 1 and "users" not in counts[0]


@pytest.mark.parametrize("page_size", ["201", "1000", "0", "-1", "ten", "1.5", ""])
def test_page_size_out_of_bounds_is_400_not_clamped(api, page_size):
    error = assert_error(api.get(URL, {"page_size": page_size}), 400, "validation_error", "page_size")
    assert "1 to 200" in error["fields"]["page_size"][0]


@pytest.mark.parametrize("page", ["0", "-2", "first", ""])
def test_malformed_page_is_400(api, page):
    assert_error(api.get(URL, {"page": page}), 400, "validation_error", "page")


def test_page_last_is_the_last_page_as_the_schema_documents(api, make_job, user, schema_parameters):
    for _ in range(3):
        make_job(user)
    body = api.get(URL, {"page": "last", "page_size": 2}).json()
    assert body["count"] == 3 and len(body["results"]) == 1
    assert {"type": "string", "enum": ["last"]} in schema_parameters["page"]["schema"]["oneOf"]


def test_page_past_the_last_is_404(api, make_job, user):
    make_job(user)
    assert_error(api.get(URL, {"page": 2}), 404, "not_found")


def test_filter_by_enabled(api, make_job, user):
    make_job(user, name="on")
    services.job_pause(job=make_job(user, name="off"), actor=user)

    assert names(api.get(URL, {"enabled": "true"})) == ["on"]
    assert names(api.get(URL, {"enabled": "false"})) == ["off"]


def test_filter_by_last_status(api, make_job, user):
    make_job(user, name="never")
    failed = make_job(user, name="failed")
    Job.objects.filter(pk=failed.pk).update(last_status="failed")

    assert names(api.get(URL, {"last_status": "failed"})) == ["failed"]
    assert names(api.get(URL, {"last_status": "succeeded"})) == []


def test_filter_by_schedule_kind(api, make_job, user):
    make_job(user, name="cron", schedule={"phrase": "every hour"})
    make_job(user, name="interval", schedule={"phrase": "every 7 minutes"})
    make_job(user, name="once", schedule={"phrase": "on 2031-01-01 at 12:00"})

    assert names(api.get(URL, {"schedule_kind": "interval"})) == ["interval"]
    assert names(api.get(URL, {"schedule_kind": "once"})) == ["once"]


def test_search_matches_part_of_the_name_case_insensitively(api, make_job, user):
    make_job(user, name="Weekly Report")
    make_job(user, name="nightly-backup")

    assert names(api.get(URL, {"search": "REPORT"})) == ["Weekly Report"]
    assert names(api.get(URL, {"search": "ly"})) == ["Weekly Report", "nightly-backup"]


def test_ordering_by_name_next_run_and_creation(api, make_job, user):
    make_job(user, name="b-hourly", schedule={"phrase": "every hour"})
    make_job(user, name="a-yearly", schedule={"kind": "cron", "cron": "0 0 1 1 *"})
    paused = make_job(user, name="c-paused", schedule={"phrase": "every 15 minutes"})
    services.job_pause(job=paused, actor=user)

    assert names(api.get(URL)) == ["a-yearly", "b-hourly", "c-paused"]
    assert names(api.get(URL, {"ordering": "-name"})) == ["c-paused", "b-hourly", "a-yearly"]
    # Paused jobs have no next run; they sort last in both directions.
    assert names(api.get(URL, {"ordering": "next_run_at"})) == ["b-hourly", "a-yearly", "c-paused"]
    assert names(api.get(URL, {"ordering": "-next_run_at"})) == ["a-yearly", "b-hourly", "c-paused"]
    assert names(api.get(URL, {"ordering": "created_at"})) == ["b-hourly", "a-yearly", "c-paused"]
    assert names(api.get(URL, {"ordering": "-created_at"})) == ["c-paused", "a-yearly", "b-hourly"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"enabled": "maybe"}, "enabled"),
        ({"last_status": "exploded"}, "last_status"),
        ({"schedule_kind": "weekly"}, "schedule_kind"),
        ({"ordering": "owner"}, "ordering"),
        ({"ordering": "name,-password"}, "ordering"),
        ({"ordering": "name,"}, "ordering"),
        ({"ordering": ",name"}, "ordering"),
        ({"ordering": "name,,-created_at"}, "ordering"),
    ],
)
def test_invalid_filter_values_are_400(api, params, field):
    assert_error(api.get(URL, params), 400, "validation_error", field)


@pytest.mark.parametrize("name", ["enabled", "last_status", "schedule_kind", "ordering"])
def test_an_empty_filter_is_a_400_not_no_filter(api, make_job, user, name, schema_parameters):
    make_job(user)
    error = assert_error(api.get(URL, {name: ""}), 400, "validation_error", name)
    assert "leave the parameter out" in error["fields"][name][0]
    assert_error(api.get(f"{URL}?{name}=&{name}="), 400, "validation_error", name)
    # The schema agrees: an enum, or a list of at least one key.
    documented = schema_parameters[name]["schema"]
    assert "" not in documented.get("enum", documented.get("items", {}).get("enum", []))
    if name == "ordering":
        assert documented["minItems"] == 1


def test_an_empty_search_is_a_search_for_anything(api, make_job, user):
    make_job(user)
    assert api.get(URL, {"search": ""}).json()["count"] == 1


def test_header_values_are_masked_in_the_list(api, make_job, user):
    make_job(user, action=http_action())
    response = api.get(URL)
    assert response.json()["results"][0]["action"]["headers"] == {"Authorization": "••••", "X-Trace": "••••"}
    assert SECRET not in response.content.decode()


def test_paused_jobs_list_no_next_runs(api, make_job, user):
    services.job_pause(job=make_job(user), actor=user)
    job = api.get(URL).json()["results"][0]
    assert job["next_run_at"] is None
    assert job["schedule"]["next_runs"] == []


def test_listing_50_jobs_does_not_query_per_row(api, make_job, user, django_assert_max_num_queries):
    for n in range(50):
        make_job(user, name=f"job-{n:02d}", action=http_action(), schedule={"phrase": "weekdays at 9am"})

    # User lookup for the token, the count, the page (owner joined).
    with django_assert_max_num_queries(3):
        response = api.get(URL)
    assert response["X-Cache"] == "miss"
    assert len(response.json()["results"]) == 50
    assert all(len(job["schedule"]["next_runs"]) == 5 for job in response.json()["results"])

    # A hit reads nothing but the caller's user row.
    with django_assert_max_num_queries(1):
        assert api.get(URL)["X-Cache"] == "hit"


def test_anonymous_list_is_401(anon):
    assert_error(anon.get(URL), 401, "not_authenticated")


# --- query parameters the list does not understand (issue 15) -----------------------


@pytest.mark.parametrize("query", ["junk=1", "enable=false", "page_size=5&_=1700000000"])
def test_an_unknown_query_parameter_is_a_400_naming_it(api, query):
    response = api.get(f"/api/v1/jobs/?{query}")

    error = assert_error(response, 400, "validation_error")
    unknown = [pair.split("=")[0] for pair in query.split("&") if pair.split("=")[0] not in {"page_size"}]
    assert set(error["fields"]) == set(unknown)
    assert "allowed: enabled, last_status, ordering, page, page_size, schedule_kind, search" in error["message"]


def test_junk_parameters_store_nothing_in_the_cache(api, user, make_job):
    make_job(user)
    api.get("/api/v1/jobs/")
    stored = len(cache.keys("*"))
    for n in range(20):
        assert api.get(f"/api/v1/jobs/?junk={n}").status_code == 400
    assert len(cache.keys("*")) == stored
