"""The migrations under MongoDB settings: complete, applied, and the collections and indexes they create.

`tests/scheduler_site/test_mongodb.py` checks completeness offline in the
SQL lanes (the dummy engine, as scripts/mongo_migrations.py does); here the
same check runs with the real MongoDB engine answering from the recorder.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.recorder import MigrationRecorder

from accounts.models import User
from jobs.execution import claims
from jobs.execution.store import mongodb_migrations as mongo
from jobs.models import Job, JobEvent, JobRun
from tests.mongodb.recorder import Store, compare_fixture

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
    claim = indexes["jobs_jobrun"]["run_claim_per_job"]
    assert claim["unique"], "a run's claim must be a unique index: slots are claimed by inserting"
    per_owner = indexes["jobs_job"]["job_unique_name_per_owner"]
    assert per_owner["unique"] and list(per_owner["key"]) == ["owner_id", "name"]
    # The backend makes unique indexes partial on the field types: documents whose value
    # is null or missing are not indexed, so (unlike a plain MongoDB unique index) any
    # number of nulls may coexist, as in SQL.
    assert per_owner["partialFilterExpression"] == {"owner_id": {"$type": "string"}, "name": {"$type": "string"}}


def test_revocations_expire_by_a_ttl_index_and_are_unique_by_their_key(mql: Any) -> None:
    indexes = mql.store.indexes["accounts_revokedtoken"]
    # The server deletes a document once `expires_at` has passed (its TTL monitor runs every 60 s).
    assert indexes["revoked_token_expiry"] == {
        "key": {"expires_at": 1},
        "name": "revoked_token_expiry",
        "expireAfterSeconds": 0,
    }
    # The key is `_id`: the insert that decides a rotation race needs no index of its own.
    assert sorted(indexes) == ["_id_", "revoked_token_expiry"]


@pytest.fixture
def database_at_jobs_0001(mql: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A database of its own (the session's stays as it is), migrated up to jobs 0001."""
    monkeypatch.setattr(mql, "store", Store())
    call_command("migrate", "jobs", "0001", verbosity=0)
    yield mql
    ContentType.objects.clear_cache()  # ids cached from this database would be wrong in the session's


def test_jobs_0002_moves_the_keys_of_existing_documents_into__id(database_at_jobs_0001: Any) -> None:
    # A server refuses the `$rename` into `_id` that the backend's AlterField sends (the engine
    # does too), so documents written before 0002 are copied into collections keyed by their UUID.
    mql = database_at_jobs_0001
    before = MigrationExecutor(connection).loader.project_state(("jobs", "0001_initial")).apps
    owner = before.get_model("accounts", "User").objects.create(username="before-0002")
    job = before.get_model("jobs", "Job").objects.create(
        owner=owner, name="nightly", schedule_kind="interval", interval_every=5, interval_unit="minutes"
    )
    slot = datetime(2030, 1, 7, 9, 0, tzinfo=UTC)
    run = before.get_model("jobs", "JobRun").objects.create(
        job=job, scheduled_for=slot, trigger="schedule", claim_key=claims.claim_key(job.pk, slot)
    )
    event = before.get_model("jobs", "JobEvent").objects.create(
        job=job, job_ref=job.pk, job_name=job.name, actor_name="system", kind="created"
    )
    tables = {"jobs_job": job.pk, "jobs_jobrun": run.pk, "jobs_jobevent": event.pk}
    old = {name: copy.deepcopy(mql.store.docs(name)) for name in tables}
    old_indexes = {name: copy.deepcopy(mql.store.indexes[name]) for name in tables}
    assert all(isinstance(doc["_id"], ObjectId) and "id" in doc for docs in old.values() for doc in docs)

    mql.log = []
    try:
        call_command("migrate", "jobs", "0002", verbosity=0)
    finally:
        log, mql.log = mql.log, None
    # What the migration sends to the jobs' collections (not post_migrate's content types).
    on_jobs = [op for op in log if op.get("collection", "").startswith("jobs_")]
    compare_fixture("migrate.jobs_0002_with_documents", on_jobs)

    for name, pk in tables.items():
        (doc,) = mql.store.docs(name)
        (was,) = old[name]
        assert was["id"] == pk.hex  # how the backend stores a UUID
        assert doc == {"_id": pk.hex, **{k: v for k, v in was.items() if k not in ("_id", "id")}}
        assert mql.store.docs(f"{name}__before_0002") == old[name]  # kept until the operator drops it
        assert "__moving_id" not in " ".join(mql.store.collections)
        # The indexes came along, but the unique ones on `id` and on `claim_key` alone.
        dropped = {i for i, index in old_indexes[name].items() if list(index["key"]) in (["id"], ["claim_key"])}
        assert len(dropped) == (2 if name == "jobs_jobrun" else 1)
        kept = {i: index for i, index in mql.store.indexes[name].items() if i != "run_claim_per_job"}
        assert kept == {i: index for i, index in old_indexes[name].items() if i not in dropped}
    # Run again (after a failure further on), the move finds nothing left to move.
    assert mongo.move_field_into_id(connection.database, "jobs_job", "id", backup="jobs_job__again") == 0
    # The app finds every row by its key, and the relations hold.
    assert Job.objects.get(pk=job.pk).name == "nightly"
    assert JobRun.objects.select_related("job").get(pk=run.pk).job.name == "nightly"
    assert JobEvent.objects.get(pk=event.pk).job_id == job.pk
    assert list(Job.objects.get(pk=job.pk).runs.values_list("pk", flat=True)) == [run.pk]

    with pytest.raises(RuntimeError, match="cannot be unapplied on MongoDB while jobs_job, jobs_jobrun"):
        call_command("migrate", "jobs", "0001", verbosity=0)
    assert ("jobs", "0002_keys_in__id_claim_per_job") in MigrationRecorder(connection).applied_migrations()
    assert mql.store.indexes["jobs_jobrun"]["run_claim_per_job"]  # nothing was undone


def test_accounts_0002_gives_existing_users_token_generation_0(mql: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tokens compare their `gen` claim with the user's field: a document without it would refuse them all.
    monkeypatch.setattr(mql, "store", Store())
    try:
        call_command("migrate", "accounts", "0001", verbosity=0)
        before = MigrationExecutor(connection).loader.project_state(("accounts", "0001_initial")).apps
        user = before.get_model("accounts", "User").objects.create(username="before-0002")
        assert "token_generation" not in mql.store.docs("users")[0]
        call_command("migrate", "accounts", "0002", verbosity=0)
        (doc,) = mql.store.docs("users")
        assert doc["token_generation"] == 0
        assert User.objects.get(pk=user.pk).token_generation == 0
    finally:
        ContentType.objects.clear_cache()
