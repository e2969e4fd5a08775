"""Audit 4: case and pattern matching, and the order of names.

Search (`icontains`) is a LIKE on SQLite (case-insensitive for ASCII only), an
UPPER() LIKE UPPER() on PostgreSQL, and a `$regex` with the `i` option on
MongoDB (the backend escapes the term). `startswith` is a LIKE on SQLite too,
so there it ignores ASCII case, unlike PostgreSQL and MongoDB. Names sort by
code point on SQLite and MongoDB, and by the database's collation on
PostgreSQL (code point under the C collation the test database uses).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from jobs.beat import mirror
from jobs.beat.scheduler import JobScheduler
from jobs.models import Job
from scheduler_site.celery import app

from .conftest import vendor


def search(api: Any, term: str) -> list[str]:
    response = api.get("/api/v1/jobs/", {"search": term})
    assert response.status_code == 200, response.content
    return sorted(row["name"] for row in response.json()["results"])


def test_search_ignores_ascii_case_on_every_backend(make_job: Any, api: Any) -> None:
    make_job(name="Nightly Report")
    make_job(name="weekly cleanup")
    assert search(api, "REPORT") == ["Nightly Report"]
    assert search(api, "Cleanup") == ["weekly cleanup"]


@pytest.mark.parametrize(
    ("term", "expected"),
    [("a_b", ["a_b"]), ("50%", ["50% off"]), ("a.b", ["a.b"]), ("(v2)", ["report (v2)"]), ("^a", [])],
)
def test_search_takes_the_term_literally(make_job: Any, api: Any, term: str, expected: list[str]) -> None:
    for name in ("a_b", "axb", "50% off", "500 on", "a.b", "report (v2)"):
        make_job(name=name)
    assert search(api, term) == expected


def test_search_beyond_ascii_ignores_case_except_on_sqlite(make_job: Any, api: Any) -> None:
    make_job(name="Été report")
    found = search(api, "éTÉ")
    # SQLite's LIKE folds ASCII letters only; PostgreSQL's UPPER() and MongoDB's $regex /i fold Unicode.
    assert found == ([] if vendor() == "sqlite" else ["Été report"])


def test_job_owned_periodic_tasks_are_recognised_by_exact_prefix_except_on_sqlite(db: Any) -> None:
    every = IntervalSchedule.objects.create(every=1, period="hours")
    PeriodicTask.objects.create(name="JOB:weekly-export", task="jobs.prune_runs", interval=every)
    seen_as_job_owned = PeriodicTask.objects.filter(name__startswith=mirror.ENTRY_PREFIX).exists()
    # SQLite's LIKE ignores ASCII case, so there a stock task named "JOB:..." is treated as a job's
    # mirror (read-only in the admin, never fired by beat). Avoid such names; see docs/mongodb-audit.md.
    assert seen_as_job_owned is (vendor() == "sqlite")
    scheduled = {model.name for model in JobScheduler(app=app, lazy=True).enabled_models()}
    assert ("JOB:weekly-export" in scheduled) is (vendor() != "sqlite")


def _code_point_collation() -> bool:
    if vendor() != "postgresql":
        return True
    with connection.cursor() as cursor:
        cursor.execute("SELECT datcollate FROM pg_database WHERE datname = current_database()")
        (collation,) = cursor.fetchone()
    return collation in ("C", "POSIX", "C.UTF-8", "C.utf8", "ucs_basic")


def test_names_sort_by_code_point(make_job: Any, api: Any) -> None:
    for name in ("beta", "Alpha", "alpha", "Beta"):
        make_job(name=name)
    response = api.get("/api/v1/jobs/")
    names = [row["name"] for row in response.json()["results"]]
    if _code_point_collation():
        assert names == ["Alpha", "Beta", "alpha", "beta"]
    else:  # a linguistic PostgreSQL collation interleaves the cases
        assert names == sorted(names, key=str.casefold)
    assert list(Job.objects.values_list("name", flat=True)) == names
