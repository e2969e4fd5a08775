"""The migrations under MongoDB settings: complete, applied, and the collections and indexes they create.

`tests/scheduler_site/test_mongodb.py` checks completeness offline in the
SQL lanes (the dummy engine, as scripts/mongo_migrations.py does); here the
same check runs with the real MongoDB engine answering from the recorder.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command

from tests.mongodb.recorder import compare_fixture

# Apps whose MongoDB migrations live in scheduler_site/mongo_migrations, plus the project's own.
MONGO_APPS = ["admin", "auth", "contenttypes", "django_celery_beat", "accounts", "jobs"]
SCHEMA_OPERATIONS = {"create_collection", "create_indexes", "drop_index", "drop", "rename"}


def test_makemigrations_finds_nothing_to_make_under_mongodb_settings(mql: Any) -> None:
    out = io.StringIO()
    try:
        call_command("makemigrations", *MONGO_APPS, "--check", "--dry-run", stdout=out)
    except SystemExit as exc:
        pytest.fail(f"makemigrations --check exited {exc.code}:\n{out.getvalue()}")
    assert "No changes detected" in out.getvalue()


def test_every_migration_is_applied(mql: Any) -> None:
    try:
        call_command("migrate", "--check", stdout=io.StringIO())
    except SystemExit as exc:
        pytest.fail(f"migrate --check exited {exc.code}: unapplied migrations under MongoDB settings")


def test_collections_and_indexes_the_migrations_create(mql: Any) -> None:
    schema = [op for op in mql.migrate_log if op["op"] in SCHEMA_OPERATIONS]
    compare_fixture("migrate.schema", schema)


def test_the_unique_indexes_the_app_relies_on(mql: Any) -> None:
    indexes = mql.store.indexes
    claim = [i for i in indexes["jobs_jobrun"].values() if list(i["key"]) == ["claim_key"]]
    assert claim and claim[0]["unique"], "JobRun.claim_key must be a unique index: slots are claimed by inserting"
    per_owner = indexes["jobs_job"]["job_unique_name_per_owner"]
    assert per_owner["unique"] and list(per_owner["key"]) == ["owner_id", "name"]
    # The backend makes unique indexes partial on the field types: documents whose value
    # is null or missing are not indexed, so (unlike a plain MongoDB unique index) any
    # number of nulls may coexist, as in SQL.
    assert per_owner["partialFilterExpression"] == {"owner_id": {"$type": "string"}, "name": {"$type": "string"}}
