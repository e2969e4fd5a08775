"""The guard guards: what it must catch, it catches (and what it stores, it stores stably)."""

from __future__ import annotations

import contextlib
import json
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from bson import ObjectId
from django.db import IntegrityError, NotSupportedError, connection
from django_mongodb_backend.transaction import atomic
from pymongo import DeleteMany, DeleteOne, InsertOne, ReplaceOne, UpdateMany, UpdateOne
from pymongo.collection import Collection
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure, WriteError
from pymongo.results import BulkWriteResult

from accounts.models import User
from jobs.execution.claims import claim_key
from jobs.models import Job, JobRun, RunTrigger
from tests.mongodb import allowlist, data, engine
from tests.mongodb.recorder import FIXTURES, GuardFailure, compare_fixture, normalize

# The keys of pymongo's bulk result, and so of BulkWriteError.details (pymongo/synchronous/bulk.py).
BULK_RESULT_KEYS = {
    "writeErrors",
    "writeConcernErrors",
    "nInserted",
    "nUpserted",
    "nMatched",
    "nModified",
    "nRemoved",
    "upserted",
}


@pytest.fixture
def claims() -> Iterator[Collection]:
    """A raw collection with a unique key, as the scheduler's claims have one."""
    collection = connection.get_collection("guard_selftest_claims")
    collection.drop()
    collection.create_index("key", unique=True)
    yield collection
    collection.drop()


@contextlib.contextmanager
def recorded(mql: Any) -> Iterator[list[dict[str, Any]]]:
    """The operations of a block, without a fixture to compare them with."""
    mql.log = []
    try:
        yield mql.log
    finally:
        mql.log = None


def keys(collection: Collection) -> list[str]:
    return sorted(doc["key"] for doc in collection.find({}))


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
    key = claim_key(job.pk, slot, RunTrigger.SCHEDULE)
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


# --- batches: insert_many and bulk_write as pymongo and MongoDB answer them ----------------------------


def test_unordered_insert_many_inserts_every_other_document_and_reports_each_duplicate(claims: Collection) -> None:
    claims.insert_one({"key": "b"})
    documents = [{"key": key} for key in "abccd"]
    with pytest.raises(BulkWriteError) as caught:
        claims.insert_many(documents, ordered=False)
    details = caught.value.details
    assert caught.value.code == 65 and set(details) == BULK_RESULT_KEYS
    assert details["nInserted"] == 3
    assert [error["index"] for error in details["writeErrors"]] == [1, 3]
    first = details["writeErrors"][0]
    assert first["code"] == 11000 and first["keyPattern"] == {"key": 1} and first["keyValue"] == {"key": "b"}
    assert first["errmsg"] == (
        f"E11000 duplicate key error collection: {claims.database.name}.guard_selftest_claims"
        ' index: key_1 dup key: { key: "b" }'
    )
    assert first["op"] is documents[1]  # pymongo hands back the caller's document
    assert details["writeConcernErrors"] == [] and details["upserted"] == []
    assert (details["nUpserted"], details["nMatched"], details["nModified"], details["nRemoved"]) == (0, 0, 0, 0)
    assert "E11000 duplicate key error" in str(caught.value)  # what the backend turns into IntegrityError
    assert keys(claims) == ["a", "b", "c", "d"]


def test_ordered_insert_many_stops_at_the_first_duplicate(claims: Collection) -> None:
    claims.insert_one({"key": "b"})
    with pytest.raises(BulkWriteError) as caught:
        claims.insert_many([{"key": key} for key in "abccd"])
    details = caught.value.details
    assert details["nInserted"] == 1 and [error["index"] for error in details["writeErrors"]] == [1]
    assert keys(claims) == ["a", "b"]


def test_bulk_write_conditional_updates_count_what_the_server_counts(mql: Any, claims: Collection) -> None:
    claims.insert_many(
        [
            {"_id": 1, "key": "a", "state": "due", "n": 1},
            {"_id": 2, "key": "b", "state": "due", "n": 1},
            {"_id": 3, "key": "c", "state": "done", "n": 1},
        ]
    )
    with recorded(mql) as log:
        result = claims.bulk_write(
            [
                UpdateOne({"_id": 1, "state": "due"}, {"$set": {"state": "claimed"}}),  # matched, modified
                UpdateOne({"_id": 3, "state": "due"}, {"$set": {"state": "claimed"}}),  # missed: moved on already
                UpdateOne({"_id": 2, "state": "due"}, {"$set": {"state": "due"}}),  # matched, nothing to change
                UpdateOne({"_id": 3}, {"$set": {"n": 1.0}}),  # same number, other BSON type: modified
            ],
            ordered=False,
        )
    assert isinstance(result, BulkWriteResult) and set(result.bulk_api_result) == BULK_RESULT_KEYS
    assert (result.matched_count, result.modified_count) == (3, 2)
    assert (result.inserted_count, result.deleted_count, result.upserted_count, result.upserted_ids) == (0, 0, 0, {})
    assert [doc["state"] for doc in claims.find({}, sort=[("_id", 1)])] == ["claimed", "due", "done"]
    # One operation, one round trip, its requests as mongosh spells them.
    assert normalize(log) == [
        {
            "op": "bulk_write",
            "collection": "guard_selftest_claims",
            "ordered": False,
            "requests": [
                {"updateOne": {"filter": {"_id": 1, "state": "due"}, "update": {"$set": {"state": "claimed"}}}},
                {"updateOne": {"filter": {"_id": 3, "state": "due"}, "update": {"$set": {"state": "claimed"}}}},
                {"updateOne": {"filter": {"_id": 2, "state": "due"}, "update": {"$set": {"state": "due"}}}},
                {"updateOne": {"filter": {"_id": 3}, "update": {"$set": {"n": 1.0}}}},
            ],
        }
    ]


def test_bulk_write_runs_every_request_kind(claims: Collection) -> None:
    claims.insert_many([{"key": "a"}, {"key": "b"}, {"key": "c"}])
    result = claims.bulk_write(
        [
            InsertOne({"key": "d"}),
            UpdateMany({"key": {"$in": ["a", "b"]}}, {"$set": {"seen": True}}),
            ReplaceOne({"key": "c"}, {"key": "c", "replaced": True}),
            DeleteOne({"key": "d"}),
            DeleteMany({"seen": True}),
        ]
    )
    assert (result.inserted_count, result.matched_count, result.modified_count, result.deleted_count) == (1, 3, 3, 3)
    assert list(claims.find({}, {"_id": 0})) == [{"key": "c", "replaced": True}]


def test_unordered_bulk_write_sends_inserts_before_updates_and_deletes(claims: Collection) -> None:
    # pymongo groups an unordered batch by kind (inserts, updates, deletes), whatever the request order.
    ordered = claims.bulk_write([DeleteMany({"key": "x"}), InsertOne({"key": "x"})])
    unordered = claims.bulk_write([DeleteMany({"key": "y"}), InsertOne({"key": "y"})], ordered=False)
    assert (ordered.deleted_count, unordered.deleted_count) == (0, 1)
    assert keys(claims) == ["x"]


def test_bulk_write_ordered_stops_at_the_first_error_unordered_goes_on(claims: Collection) -> None:
    claims.insert_many([{"key": "a"}, {"key": "b"}])

    def batch() -> list[Any]:
        return [
            InsertOne({"key": "a"}),  # duplicate
            UpdateOne({"key": "b"}, {"$set": {"key": "a"}}),  # duplicate through an update
            UpdateOne({"key": "b"}, {"$set": {"n": 1}}),
            InsertOne({"key": "z"}),
        ]

    with pytest.raises(BulkWriteError) as ordered:
        claims.bulk_write(batch())
    assert [error["index"] for error in ordered.value.details["writeErrors"]] == [0]
    assert (ordered.value.details["nInserted"], ordered.value.details["nMatched"]) == (0, 0)
    assert keys(claims) == ["a", "b"]

    with pytest.raises(BulkWriteError) as unordered:
        claims.bulk_write(batch(), ordered=False)
    details = unordered.value.details
    assert [error["index"] for error in details["writeErrors"]] == [0, 1]
    assert details["writeErrors"][1]["op"] == {
        "q": {"key": "b"},
        "u": {"$set": {"key": "a"}},
        "multi": False,
        "upsert": False,
    }
    assert (details["nInserted"], details["nMatched"], details["nModified"]) == (1, 1, 1)
    assert keys(claims) == ["a", "b", "z"]


def test_a_bulk_write_outside_the_allow_list_fails_the_path(mql: Any, claims: Collection) -> None:
    path = mql.path("guard.selftest.bulk_write_outside_allow_list")
    with pytest.raises(GuardFailure) as failure, path, contextlib.suppress(Exception):
        claims.bulk_write(
            [
                UpdateOne({"key": "a"}, {"$set": {"n": 1}}),
                UpdateOne({"key": {"$jsonSchema": {}}}, [{"$set": {"y": {"$bitAnd": [1, 3]}}}]),
            ]
        )
    message = str(failure.value)
    assert (
        "bulk_write on guard_selftest_claims: requests[1].updateOne.filter.key: query operator $jsonSchema" in message
    )
    assert "requests[1].updateOne.update[0].$set.y: expression operator $bitAnd" in message
    assert "requests[0]" not in message


def test_a_bulk_write_upsert_is_refused_as_not_simulated(mql: Any, claims: Collection) -> None:
    with pytest.raises(engine.EngineLimitation):
        claims.bulk_write([UpdateOne({"key": "a"}, {"$set": {"n": 1}}, upsert=True)])
    assert [p for p in mql.take_problems() if "upsert is not simulated" in p]
    assert keys(claims) == []


# --- round trips --------------------------------------------------------------------------------------------


def test_counting_counts_the_commands_a_block_sends(mql: Any, claims: Collection, user: Any) -> None:
    claims.insert_one({"key": "a"})
    with mql.counting() as counted:
        with pytest.raises(BulkWriteError):
            claims.insert_many([{"key": "a"}, {"key": "b"}], ordered=False)  # its duplicate key is no round trip
        claims.bulk_write([UpdateOne({"key": k}, {"$set": {"n": 1}}) for k in "ab"], ordered=False)
        with mql.counting() as inner:
            # Ordered and alternating kinds: pymongo sends one command per run of a kind.
            claims.bulk_write([InsertOne({"key": "c"}), UpdateOne({"key": "c"}, {"$set": {"n": 1}}), InsertOne({})])
        claims.delete_many({"n": 1})
        assert User.objects.filter(pk=user.pk).exists()
    assert inner == Counter({"bulk_write": 3})
    assert counted == Counter({"insert_many": 1, "bulk_write": 4, "delete_many": 1, "aggregate": 1})
    assert sum(counted.values()) == 7


# --- transactions ---------------------------------------------------------------------------------------------


def test_a_standalone_server_refuses_transactions(claims: Collection) -> None:
    assert connection.features._supports_transactions is False
    with pytest.raises(OperationFailure) as refused, atomic():
        claims.insert_one({"key": "a"}, session=connection.session)
    assert refused.value.code == 20  # "Transaction numbers are only allowed on a replica set member or mongos"
    assert keys(claims) == [] and connection.session is None


def test_a_committed_transaction_keeps_its_writes(mql: Any, replica_set: Any, claims: Collection, user: Any) -> None:
    job = data.make_job(user)
    assert connection.features._supports_transactions
    slot = datetime(2030, 1, 1, tzinfo=UTC)
    with recorded(mql) as log, mql.counting() as counted, atomic():
        JobRun.objects.create(job=job, scheduled_for=slot, trigger=RunTrigger.MANUAL, claim_key="txn-commit")
        claims.insert_one({"key": "a"}, session=connection.session)
    assert [(op["op"], op.get("txn")) for op in log] == [
        ("session.start_transaction", None),
        ("insert_many", True),
        ("insert_one", True),
        ("session.commit_transaction", None),
    ]
    assert counted == Counter({"insert_many": 1, "insert_one": 1, "session.commit_transaction": 1})
    assert JobRun.objects.filter(claim_key="txn-commit").exists() and keys(claims) == ["a"]


def test_an_aborted_transaction_undoes_its_writes(mql: Any, replica_set: Any, claims: Collection, user: Any) -> None:
    job = data.make_job(user)
    claims.insert_many([{"key": "kept", "n": 1}, {"key": "deleted"}])
    slot = datetime(2030, 1, 1, tzinfo=UTC)
    with recorded(mql) as log, pytest.raises(RuntimeError), atomic():
        JobRun.objects.create(job=job, scheduled_for=slot, trigger=RunTrigger.MANUAL, claim_key="txn-abort")
        Job.objects.filter(pk=job.pk).update(name="renamed in the transaction")
        claims.insert_one({"key": "new"}, session=connection.session)
        claims.bulk_write(
            [UpdateOne({"key": "kept"}, {"$set": {"n": 2}}), DeleteOne({"key": "deleted"})],
            ordered=False,
            session=connection.session,
        )
        claims.insert_one({"key": "outside"})  # no session: not part of the transaction
        raise RuntimeError("the app gives up")
    assert log[-1] == {"op": "session.abort_transaction"}
    assert [op["op"] for op in log if op.get("txn")] == ["insert_many", "update_many", "insert_one", "bulk_write"]
    assert not JobRun.objects.filter(claim_key="txn-abort").exists()
    assert Job.objects.get(pk=job.pk).name == job.name
    assert sorted((doc["key"], doc.get("n")) for doc in claims.find({})) == [
        ("deleted", None),
        ("kept", 1),
        ("outside", None),
    ]


def test_a_write_error_inside_a_transaction_aborts_it_on_the_server(replica_set: Any, claims: Collection) -> None:
    claims.insert_one({"key": "taken"})
    with pytest.raises(OperationFailure) as commit, atomic():
        claims.insert_one({"key": "first"}, session=connection.session)
        with pytest.raises(BulkWriteError) as lost:
            claims.insert_many([{"key": "taken"}, {"key": "free"}], ordered=False, session=connection.session)
        with pytest.raises(OperationFailure) as after:
            claims.find_one({"key": "first"}, session=connection.session)
    # Unordered, yet stopped at the first error: in a transaction the server fails the whole batch.
    assert lost.value.details["nInserted"] == 0 and len(lost.value.details["writeErrors"]) == 1
    assert after.value.code == 251 and after.value.has_error_label("TransientTransactionError")
    assert commit.value.code == 251 and not isinstance(commit.value, BulkWriteError)
    assert keys(claims) == ["taken"]  # "first" went with the transaction
    # The backend's atomic() ends the session only when commit raises a DatabaseError: this one stays.
    assert connection.session is not None


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
