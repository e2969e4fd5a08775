"""The guard guards: what it must catch, it catches (and what it stores, it stores stably)."""

from __future__ import annotations

import contextlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from django.db import IntegrityError, NotSupportedError, connection
from pymongo.errors import DuplicateKeyError, OperationFailure, WriteError

from accounts.models import User
from jobs.models import JobRun, RunTrigger
from tests.mongodb import allowlist, data
from tests.mongodb.recorder import FIXTURES, GuardFailure, compare_fixture, normalize


def test_a_not_supported_query_fails_the_path_even_when_the_app_swallows_it(mql: Any, user: Any) -> None:
    swallowed = contextlib.suppress(NotSupportedError)  # as an app catching it would
    with pytest.raises(GuardFailure, match="NotSupportedError"), mql.path("guard.selftest.not_supported"), swallowed:
        list(User.objects.prefetch_related("groups"))  # many-to-many prefetch: unsupported on MongoDB


def test_a_not_supported_error_raised_outside_the_compilers_fails_too(mql: Any, user: Any) -> None:
    # Django's own QuerySet checks: ignore_conflicts needs a backend feature MongoDB lacks.
    job = data.make_job(user)
    run = JobRun(job=job, scheduled_for=datetime(2030, 1, 1, tzinfo=UTC), trigger=RunTrigger.SCHEDULE, claim_key="k")
    swallowed = contextlib.suppress(NotSupportedError)
    with pytest.raises(GuardFailure, match="ignore_conflicts"), mql.path("guard.selftest.bulk_create"), swallowed:
        JobRun.objects.bulk_create([run], ignore_conflicts=True)


def test_a_stage_or_operator_newer_than_6_0_fails_the_path(mql: Any) -> None:
    collection = connection.get_collection("guard_selftest_empty")
    with pytest.raises(GuardFailure) as failure, mql.path("guard.selftest.outside_allow_list"):
        for call in (
            lambda: list(
                collection.aggregate([{"$project": {"m": {"$median": {"input": "$x", "method": "approximate"}}}}])
            ),
            lambda: list(collection.aggregate([{"$search": {"text": {"query": "x", "path": "name"}}}])),
            lambda: collection.update_many({"x": {"$jsonSchema": {}}}, [{"$set": {"y": {"$bitAnd": [1, 3]}}}]),
        ):
            with contextlib.suppress(Exception):
                call()
    message = str(failure.value)
    for operator in ("$median", "$search", "$jsonSchema", "$bitAnd"):
        assert operator in message


def test_the_allow_list_skips_literals_and_checks_nested_pipelines() -> None:
    assert not list(allowlist.pipeline_violations([{"$project": {"a": {"$literal": {"$median": 1}}}}]))
    nested = [{"$lookup": {"from": "x", "as": "y", "pipeline": [{"$densify": {}}]}}]
    assert [v for v in allowlist.pipeline_violations(nested) if "$densify" in v]
    assert [v for v in allowlist.expression_violations("$$SEARCH_META", "x") if "SEARCH_META" in v]


def test_reaching_for_a_server_fails(mql: Any) -> None:
    failure = pytest.raises(GuardFailure, match="tried to reach a MongoDB server")
    with failure, mql.path("guard.selftest.server"), contextlib.suppress(Exception):
        connection.connection.list_databases()  # not patched: would dial the URI


def test_unique_indexes_are_enforced_like_a_server(mql: Any, user: Any) -> None:
    job = data.make_job(user)
    slot = datetime(2030, 1, 1, tzinfo=UTC)
    key = JobRun.make_claim_key(job.pk, slot, RunTrigger.SCHEDULE)
    JobRun.objects.create(job=job, scheduled_for=slot, trigger=RunTrigger.SCHEDULE, claim_key=key)
    with pytest.raises(IntegrityError):
        JobRun.objects.create(job=job, scheduled_for=slot, trigger=RunTrigger.SCHEDULE, claim_key=key)
    assert JobRun.objects.filter(job=job, claim_key=key).count() == 1
    assert mql.take_problems() == []  # a lost claim is the app's business, not a backend failure


def test_datetimes_come_back_at_millisecond_precision(mql: Any, user: Any) -> None:
    job = data.make_job(user)
    slot = datetime(2030, 1, 1, 9, 0, 0, 123456, tzinfo=UTC)
    run = JobRun.objects.create(job=job, scheduled_for=slot, trigger=RunTrigger.MANUAL, claim_key="x")
    assert JobRun.objects.get(pk=run.pk).scheduled_for == slot.replace(microsecond=123000)


def test_normalization_replaces_volatile_values_and_keeps_the_rest() -> None:
    value = {
        "_id": ObjectId(),
        "id": uuid.uuid4().hex,
        "claim_key": f"{uuid.uuid4()}|2030-01-01T09:00:00.000|schedule|1",
        "at": datetime.now(UTC),
        "password": "md5$salt$hash",
        "$sort": {"name": 1, "id": 1},
        "duration_ms": 1,
        "documents": [{"duration_ms": 1234}],
    }
    assert normalize(value) == {
        "_id": "<ObjectId>",
        "id": "<uuid>",
        "claim_key": "<uuid>|<datetime>|schedule|1",
        "at": "<datetime>",
        "password": "<password>",
        "$sort": {"name": 1, "id": 1},
        "duration_ms": 1,
        "documents": [{"duration_ms": "<number>"}],
    }


def test_a_changed_query_fails_with_a_diff_against_its_fixture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UPDATE_MQL_FIXTURES", raising=False)
    recorded = json.loads((FIXTURES / "api.me.json").read_text())["operations"]
    changed = [*recorded, {"op": "aggregate", "collection": "users", "pipeline": [{"$match": {"extra": True}}]}]
    with pytest.raises(GuardFailure, match="UPDATE_MQL_FIXTURES=1") as failure:
        compare_fixture("api.me", changed)
    assert '"extra": true' in str(failure.value) and "+++ recorded" in str(failure.value)
    compare_fixture("api.me", recorded)  # unchanged: passes


def test_no_update_changes_an__id_like_a_server(mql: Any) -> None:
    # What makes a pk column rename (`$rename: {"id": "_id"}`) fail on existing documents.
    collection = connection.get_collection("guard_selftest_immutable_id")
    collection.insert_one({"_id": ObjectId(), "id": "a"})
    collection.update_many({"id": "b"}, {"$rename": {"id": "_id"}})  # matches nothing: fine
    with pytest.raises(WriteError) as refused:
        collection.update_many({}, {"$rename": {"id": "_id"}})
    assert refused.value.code == 66
    collection.update_many({}, {"$rename": {"missing": "_id"}})  # a field a document lacks: a no-op
    collection.drop()


def test_out_replaces_its_target_whole_and_rename_refuses_an_existing_name(mql: Any) -> None:
    source = connection.get_collection("guard_selftest_out_source")
    source.insert_many([{"_id": ObjectId(), "id": "a"}, {"_id": ObjectId(), "id": "b"}])
    source.aggregate([{"$set": {"_id": "$id"}}, {"$unset": "id"}, {"$out": "guard_selftest_out_target"}])
    target = connection.get_collection("guard_selftest_out_target")
    assert sorted(target.find({}), key=str) == [{"_id": "a"}, {"_id": "b"}]
    with pytest.raises(DuplicateKeyError):  # two documents, one _id: the target is left as it was
        source.aggregate([{"$set": {"_id": "same"}}, {"$out": "guard_selftest_out_target"}])
    assert target.count_documents({}) == 2
    with pytest.raises(OperationFailure) as exists:
        source.rename("guard_selftest_out_target")
    assert exists.value.code == 48
    source.drop()
    target.drop()
