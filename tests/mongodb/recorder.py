"""The query-compilation guard's recorder: pymongo's collection operations, recorded instead of sent.

`install()` patches the pymongo `Collection`, `Database` and `MongoClient`
methods django-mongodb-backend calls (found by reading its compiler, query,
schema, operations, introspection and features modules), so the app runs
end to end under `MONGODB_URI` settings with no server:

- every operation is recorded (collection, pipeline / filter / update /
  documents) and its MQL checked against `allowlist.py`;
- it is answered from `engine.py`'s in-memory collections (seeded by the
  migrations and by the tests through the app's own services), so a path
  that needs data (the authenticated user, the job being shown, a run) has
  it, with BSON round trips and unique indexes as on a server;
- any exception the backend raises while compiling or executing a query
  (`NotSupportedError`, `DatabaseError`, a value BSON cannot encode, an
  operator the engine does not know) is recorded even when the app catches
  it, and fails the test; so does any attempt to reach a server.

Writes go through the server's insert / update / delete commands as the
store answers them, wrapped in pymongo's own bulk helpers: `insert_many` and
`bulk_write` (InsertOne, UpdateOne, UpdateMany, ReplaceOne, DeleteOne,
DeleteMany; ordered or not) return pymongo's results and raise its
`BulkWriteError` with its detail shape; a `bulk_write` is recorded as one
operation, its requests spelled as mongosh's `bulkWrite` spells them.

Transactions: `hello` answers as a standalone server unless
`RECORDER.replica_set` (the `replica_set` fixture) is set, and operations
carrying a session in a transaction fail on a standalone server as they
would on MongoDB. On a replica set they are recorded with `"txn": True`,
and an aborted transaction's writes are undone in the store.

`Recorder.path(name)` records one code path's operations and compares them,
normalized, with `fixtures/<name>.json` (`UPDATE_MQL_FIXTURES=1` rewrites);
`Recorder.counting()` counts a block's round trips.
"""

from __future__ import annotations

import contextlib
import copy
import difflib
import functools
import json
import os
import re
import socket
import traceback
from collections import Counter, abc
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bson
from bson import ObjectId
from bson.errors import BSONError
from bson.son import SON
from pymongo import IndexModel
from pymongo.bulk_shared import _merge_command, _raise_bulk_write_error
from pymongo.collection import Collection
from pymongo.common import validate_list, validate_ok_for_replace, validate_ok_for_update
from pymongo.database import Database
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    InvalidOperation,
    OperationFailure,
    ServerSelectionTimeoutError,
)
from pymongo.helpers_shared import _check_write_command_response
from pymongo.message import _DELETE, _INSERT, _UPDATE
from pymongo.mongo_client import MongoClient
from pymongo.results import BulkWriteResult, DeleteResult, InsertManyResult, InsertOneResult, UpdateResult
from pymongo.synchronous.bulk import _Bulk

from tests.mongodb import allowlist, engine

# The private pymongo names above (_Bulk, _merge_command, _raise_bulk_write_error, _check_write_command_response,
# _INSERT...) are used on purpose: results and BulkWriteError details then have pymongo's shape by construction,
# and a pymongo upgrade that moves them fails at import, loudly.

FIXTURES = Path(__file__).resolve().parent / "fixtures"
UPDATE_ENV = "UPDATE_MQL_FIXTURES"


class GuardFailure(AssertionError):
    pass


# --- the in-memory database --------------------------------------------------------------


class Store:
    def __init__(self) -> None:
        self.collections: dict[str, list[dict[str, Any]]] = {}
        self.indexes: dict[str, dict[str, dict[str, Any]]] = {}

    def docs(self, name: str) -> list[dict[str, Any]]:
        return self.collections.setdefault(name, [])

    def create(self, name: str) -> None:
        self.collections.setdefault(name, [])
        self.indexes.setdefault(name, {"_id_": {"key": {"_id": 1}, "unique": True, "name": "_id_"}})

    def drop(self, name: str) -> None:
        self.collections.pop(name, None)
        self.indexes.pop(name, None)

    def check_unique(self, name: str, doc: dict[str, Any], *, ignore: dict[str, Any] | None = None) -> str | None:
        """The name of a unique index `doc` would violate, or None."""
        for index in self.indexes.get(name, {}).values():
            if not index.get("unique"):
                continue
            partial = index.get("partialFilterExpression")
            if partial and not engine.matches(doc, partial):
                continue
            key = [engine.hashable(engine.get_path(doc, field)) for field in index["key"]]
            for other in self.docs(name):
                if other is ignore or (partial and not engine.matches(other, partial)):
                    continue
                if [engine.hashable(engine.get_path(other, field)) for field in index["key"]] == key:
                    return index["name"]
        return None


class FakeCursor:
    """What `aggregate()`/`find()` return: iterable, with the `next()`/`close()` the backend uses."""

    def __init__(self, docs: list[dict[str, Any]]) -> None:
        self._docs = docs
        self._iter: Iterator[dict[str, Any]] | None = None

    def _iterator(self) -> Iterator[dict[str, Any]]:
        if self._iter is None:
            self._iter = iter(self._docs)
        return self._iter

    def __iter__(self) -> FakeCursor:
        return self

    def __next__(self) -> dict[str, Any]:
        return next(self._iterator())

    next = __next__

    def try_next(self) -> dict[str, Any] | None:
        return next(self._iterator(), None)

    def to_list(self, length: int | None = None) -> list[dict[str, Any]]:
        return list(self._iterator())[:length] if length else list(self._iterator())

    def sort(self, key: Any, direction: int = 1) -> FakeCursor:
        spec = dict(key) if isinstance(key, (list, dict, SON)) else {key: direction}
        self._docs = engine.run_pipeline(self._docs, [{"$sort": spec}], {})
        return self

    def skip(self, n: int) -> FakeCursor:
        self._docs = self._docs[n:]
        return self

    def limit(self, n: int) -> FakeCursor:
        self._docs = self._docs[:n] if n else self._docs
        return self

    def close(self) -> None:
        self._iter = iter(())

    @property
    def alive(self) -> bool:
        return True

    def __enter__(self) -> FakeCursor:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


_Refusal = tuple[int, str, str, list[str]]
# What a server answers a command carrying a transaction it cannot run: a standalone server has no
# transactions; after a write error inside one, the server has aborted it (mongod's write_ops_exec:
# "If we are in a transaction, we must fail the whole batch" then abortTransaction).
_STANDALONE: _Refusal = (
    20,
    "IllegalOperation",
    "Transaction numbers are only allowed on a replica set member or mongos",
    [],
)
_ABORTED: _Refusal = (251, "NoSuchTransaction", "Transaction has been aborted.", ["TransientTransactionError"])


def _server_error(refusal: _Refusal) -> OperationFailure:
    code, name, message, labels = refusal
    details: dict[str, Any] = {"ok": 0.0, "errmsg": message, "code": code, "codeName": name}
    if labels:
        details["errorLabels"] = list(labels)
    return OperationFailure(message, code, details)


class FakeSession:
    """What `MongoClient.start_session()` returns, with pymongo's transaction states.

    As in pymongo, `start_transaction()` sends nothing: the transaction starts on
    the server with its first operation, and committing or aborting one that sent
    nothing sends nothing either (both are still recorded, as the app's calls).
    Writes made inside the transaction are journaled and undone when it aborts,
    whether the app aborts it or the server does after a write error. Not
    simulated: snapshot isolation (operations outside the transaction see its
    uncommitted writes) and write conflicts between sessions.
    """

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.state = "none"  # pymongo's _TxnState: none, starting, in progress, committed, aborted
        self.journal: list[Callable[[], None]] = []
        self.refusal: _Refusal | None = None

    @property
    def in_transaction(self) -> bool:
        return self.state in ("starting", "in progress")

    def start_transaction(self, *args: Any, **kwargs: Any) -> None:
        if self.in_transaction:
            raise InvalidOperation("Transaction already in progress")
        self.recorder.record({"op": "session.start_transaction"})
        self.state, self.journal, self.refusal = "starting", [], None

    def command_sent(self) -> None:
        """An operation carrying this session reached the server: it starts or continues the transaction."""
        if not self.in_transaction:
            return
        if not self.recorder.replica_set and self.refusal is None:
            self.refusal = _STANDALONE
        self.state = "in progress"
        if self.refusal:
            raise _server_error(self.refusal)

    def aborted_by_server(self) -> None:
        self._undo()
        self.refusal = _ABORTED

    def _undo(self) -> None:
        for undo in reversed(self.journal):
            undo()
        self.journal = []

    def commit_transaction(self) -> None:
        self.recorder.record({"op": "session.commit_transaction"})
        if self.state == "none":
            raise InvalidOperation("No transaction started")
        if self.state == "aborted":
            raise InvalidOperation("Cannot call commitTransaction after calling abortTransaction")
        sent, refusal = self.state == "in progress", self.refusal
        self.state, self.journal = "committed", []
        if sent:
            self.recorder.count("session.commit_transaction")
            if refusal:
                raise _server_error(refusal)

    def abort_transaction(self) -> None:
        self.recorder.record({"op": "session.abort_transaction"})
        if self.state == "none":
            raise InvalidOperation("No transaction started")
        if self.state == "aborted":
            raise InvalidOperation("Cannot call abortTransaction twice")
        if self.state == "committed":
            raise InvalidOperation("Cannot call abortTransaction after calling commitTransaction")
        if self.state == "in progress":
            self.recorder.count("session.abort_transaction")  # its errors are ignored, as pymongo does
        self._undo()
        self.state = "aborted"

    def end_session(self) -> None:
        if self.in_transaction:
            self.abort_transaction()  # as pymongo's end_session does

    def __enter__(self) -> FakeSession:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.end_session()


# --- normalization ----------------------------------------------------------------------------

_UUID = re.compile(
    r"(?<![0-9a-f])(?:[0-9a-f]{32}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})(?![0-9a-f])"
)
_OBJECT_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{24}(?![0-9a-f])")
_ISO = re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:?\d{2})?")
# Values that differ on every run whatever their type: salted hashes, session keys, timings.
_VOLATILE_KEYS = {"password": "<password>", "session_key": "<session key>", "session_data": "<session data>"}
_NUMBER_KEYS = {"duration_ms"}
_DATA_KEYS = {"documents", "document", "replacement", "$literal"}
_FIELD_SETS = {"$addFields", "$set", "$project"}


def normalize(value: Any, key: str | None = None, *, field: str | None = None, data: bool = False) -> Any:
    """A JSON-ready copy with volatile values (ObjectIds, UUIDs, datetimes, hashes) replaced by placeholders.

    `key` is the key `value` sits under; `field` the nearest one that is not an
    operator, so {"password": {"$literal": ...}} is still a password. `data` is
    true inside stored documents and `$literal` values, where a number such as
    a run's duration is a measurement, not MQL.
    """
    field = field if key is None or key.startswith("$") else key
    if field in _VOLATILE_KEYS and isinstance(value, str):
        return _VOLATILE_KEYS[field]
    if isinstance(value, (dict, SON)):
        items = list(value.items())
        if key in _FIELD_SETS:
            # Field lists the backend builds from sets (e.g. a $group id and the $addFields that unpacks
            # it): their order changes with Python's hash seed and means nothing to MongoDB.
            items.sort(key=lambda item: item[0])
        if key == "$group" and isinstance(value.get("_id"), dict):
            items = [(k, dict(sorted(v.items())) if k == "_id" else v) for k, v in items]
        return {k: normalize(v, k, field=field, data=data or k in _DATA_KEYS) for k, v in items}
    if isinstance(value, (list, tuple)):
        return [normalize(v, key, field=field, data=data) for v in value]
    if isinstance(value, ObjectId):
        return "<ObjectId>"
    if isinstance(value, datetime):
        return "<datetime>"
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        return "<number>" if data and field in _NUMBER_KEYS else value
    if isinstance(value, str):
        text = _UUID.sub("<uuid>", value)
        text = _OBJECT_ID.sub("<ObjectId>", text)
        text = _ISO.sub("<datetime>", text)
        host = socket.gethostname()
        return text.replace(host, "<hostname>") if host else text
    if isinstance(value, re.Pattern):
        return {"$regex": value.pattern}
    return repr(value)


# --- the recorder -------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.store = Store()
        self.log: list[dict[str, Any]] | None = None
        self.current_path: str | None = None
        self.problems: list[str] = []
        self.paths_seen: set[str] = set()
        self.fixtures_used: set[str] = set()
        self.expected_errors = 0
        self.counts: dict[str, int] = {}
        self.counters: list[Counter[str]] = []
        # The session the current pymongo call carries (set around every patched method).
        self.session: FakeSession | None = None
        # False: `hello` answers as a standalone server (no transactions); the `replica_set` fixture sets it.
        self.replica_set = False

    # --- recording ------------------------------------------------------------------

    def record(self, operation: dict[str, Any]) -> None:
        self.counts[operation["op"]] = self.counts.get(operation["op"], 0) + 1
        if self.log is not None:
            self.log.append(copy.deepcopy(operation))

    def send(self, operation: dict[str, Any]) -> None:
        """One command reaching the server: recorded (with `"txn": True` inside a transaction), counted, and
        refused as the server would refuse it (a transaction on a standalone server, or one it aborted)."""
        if self.session is not None and self.session.in_transaction:
            operation = {**operation, "txn": True}
        self.record(operation)
        self.command_sent(operation["op"])

    def command_sent(self, kind: str) -> None:
        """A command of an operation already recorded (pymongo sends a bulk write as one per run of a kind)."""
        self.count(kind)
        if self.session is not None:
            self.session.command_sent()

    def count(self, kind: str) -> None:
        for counter in self.counters:
            counter[kind] += 1

    @contextlib.contextmanager
    def counting(self) -> Iterator[Counter[str]]:
        """The commands the block sends to MongoDB, by kind: `sum(counted.values())` is its round trips.

        One per command the server receives: a find, an aggregate, an insert_many,
        a commit (of a transaction that sent something) count 1 each; a bulk_write
        counts one per command pymongo splits it into (unordered: one per kind of
        request; ordered: one per run of consecutive requests of a kind). The
        `duplicate key` annotations and `session.start_transaction` (pymongo
        sends nothing until the first operation) are not counted. Blocks nest.
        """
        counter: Counter[str] = Counter()
        self.counters.append(counter)
        try:
            yield counter
        finally:
            self.counters = [c for c in self.counters if c is not counter]

    def violation(self, message: str) -> None:
        self.problems.append(f"MQL outside the MongoDB 6.0 allow-list: {message}")

    def backend_error(self, exc: BaseException) -> None:
        if getattr(exc, "_guard_seen", False):
            return
        with contextlib.suppress(AttributeError):
            exc._guard_seen = True  # type: ignore[attr-defined]
        if isinstance(exc.__cause__, (DuplicateKeyError, BulkWriteError)):
            return  # a unique index doing its job (a claim lost): the app handles IntegrityError
        if self.expected_errors:
            self.expected_errors -= 1
            return
        where = "".join(traceback.format_exception(exc)[-3:]).strip()
        self.problems.append(f"backend exception {type(exc).__name__}: {exc}\n{where}")

    def take_problems(self) -> list[str]:
        problems, self.problems = self.problems, []
        return problems

    @contextlib.contextmanager
    def expect_backend_error(self) -> Iterator[None]:
        """For the guard's own tests: the next backend exception is expected."""
        self.expected_errors += 1
        try:
            yield
        finally:
            self.expected_errors = 0

    @contextlib.contextmanager
    def path(self, name: str) -> Iterator[list[dict[str, Any]]]:
        """Record the operations of one code path and compare them with its fixture."""
        if self.log is not None:
            raise GuardFailure(f"path {name!r} started inside path {self.current_path!r}")
        if name in self.paths_seen:
            raise GuardFailure(f"path {name!r} recorded twice in this session")
        self.paths_seen.add(name)
        before = self.take_problems()
        self.log, self.current_path = [], name
        try:
            yield self.log
        except BaseException as exc:
            problems = self.take_problems()
            self.problems = before
            if problems:
                raise GuardFailure(f"{name}:\n" + "\n".join(problems)) from exc
            raise
        finally:
            operations, self.log, self.current_path = self.log, None, None
        problems = self.take_problems()
        self.problems = before
        if problems:
            raise GuardFailure(f"{name}:\n" + "\n".join(problems))
        compare_fixture(name, operations)


def compare_fixture(name: str, operations: list[dict[str, Any]]) -> None:
    RECORDER.fixtures_used.add(name)
    if not operations:
        raise GuardFailure(f"path {name!r} issued no database operation: is it driven at all?")
    document = {"path": name, "operations": normalize(operations)}
    text = json.dumps(document, indent=1, ensure_ascii=False) + "\n"
    file = FIXTURES / f"{name}.json"
    if os.environ.get(UPDATE_ENV) == "1":
        file.parent.mkdir(parents=True, exist_ok=True)
        if not file.exists() or file.read_text() != text:
            file.write_text(text)
        return
    if not file.exists():
        raise GuardFailure(f"no MQL fixture {file.name}; record it with {UPDATE_ENV}=1 and review the file")
    expected = file.read_text()
    if expected != text:
        diff = "".join(
            difflib.unified_diff(
                expected.splitlines(keepends=True), text.splitlines(keepends=True), "fixture", "recorded", n=2
            )
        )
        raise GuardFailure(f"the MQL of {name} changed (review, then rewrite with {UPDATE_ENV}=1):\n{diff[:6000]}")


RECORDER = Recorder()


# --- patched pymongo ----------------------------------------------------------------------------------


def _round_trip(collection: Collection, value: Any) -> Any:
    return engine.bson_round_trip(value, collection.codec_options)


def _check(kind: str, where: str, violations: Iterator[str]) -> None:
    for message in violations:
        RECORDER.violation(f"{kind} on {where}: {message}")


def _answer(func: Callable[..., Any]) -> Callable[..., Any]:
    """Engine limitations and encoding errors are the guard's failures: record them, then raise."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (engine.EngineLimitation, BSONError, TypeError, ValueError, KeyError) as exc:
            RECORDER.problems.append(f"{func.__name__} on {getattr(args[0], 'name', '?')}: {type(exc).__name__}: {exc}")
            with contextlib.suppress(AttributeError):
                exc._guard_seen = True  # type: ignore[attr-defined]
            raise

    return wrapper


@_answer
def aggregate(self: Collection, pipeline: Any, *args: Any, **kwargs: Any) -> FakeCursor:
    pipeline = _round_trip(self, list(pipeline))
    RECORDER.send({"op": "aggregate", "collection": self.name, "pipeline": pipeline})
    _check("aggregate", self.name, allowlist.pipeline_violations(pipeline))
    out = pipeline[-1].get("$out") if pipeline else None
    docs = engine.run_pipeline(
        RECORDER.store.docs(self.name), pipeline[:-1] if out else pipeline, RECORDER.store.collections
    )
    if out:
        _out(self, out, docs)
        return FakeCursor([])
    return FakeCursor([_round_trip(self, doc) for doc in docs])


def _out(self: Collection, target: Any, docs: list[dict[str, Any]]) -> None:
    """`$out`, as a server does it: the results replace `target` whole or not at all, its indexes kept."""
    if not isinstance(target, str):
        raise engine.EngineLimitation("$out to another database")
    store = RECORDER.store
    indexes = store.indexes.get(target) or {"_id_": {"key": {"_id": 1}, "unique": True, "name": "_id_"}}
    staged = Store()
    staged.create(target)
    staged.indexes[target] = indexes
    for doc in docs:
        doc = _round_trip(self, {"_id": ObjectId(), **doc} if "_id" not in doc else doc)
        violated = staged.check_unique(target, doc)
        if violated:
            raise DuplicateKeyError(f"E11000 duplicate key error collection: {target} index: {violated}", 11000)
        staged.docs(target).append(doc)
    store.collections[target] = staged.docs(target)
    store.indexes[target] = indexes


def _find_docs(self: Collection, filter: Any, projection: Any = None) -> list[dict[str, Any]]:
    pipeline: list[dict[str, Any]] = [{"$match": filter or {}}]
    if projection:
        pipeline.append(
            {"$project": dict(projection) if not isinstance(projection, list) else dict.fromkeys(projection, 1)}
        )
    return engine.run_pipeline(RECORDER.store.docs(self.name), pipeline, RECORDER.store.collections)


@_answer
def find(self: Collection, filter: Any = None, projection: Any = None, *args: Any, **kwargs: Any) -> FakeCursor:
    filter = _round_trip(self, filter or {})
    RECORDER.send({"op": "find", "collection": self.name, "filter": filter, "projection": projection})
    _check("find", self.name, allowlist.query_violations(filter, "filter"))
    cursor = FakeCursor(_find_docs(self, filter, projection))
    if kwargs.get("sort"):
        cursor.sort(kwargs["sort"])
    if kwargs.get("skip"):
        cursor.skip(kwargs["skip"])
    if kwargs.get("limit"):
        cursor.limit(kwargs["limit"])
    return cursor


def find_one(self: Collection, filter: Any = None, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
    if filter is not None and not isinstance(filter, dict):
        filter = {"_id": filter}
    return next(iter(find(self, filter, *args, **kwargs)), None)


@_answer
def count_documents(self: Collection, filter: Any, *args: Any, **kwargs: Any) -> int:
    filter = _round_trip(self, filter)
    RECORDER.send({"op": "count_documents", "collection": self.name, "filter": filter})
    _check("count_documents", self.name, allowlist.query_violations(filter, "filter"))
    return len(_find_docs(self, filter))


def estimated_document_count(self: Collection, *args: Any, **kwargs: Any) -> int:
    RECORDER.send({"op": "estimated_document_count", "collection": self.name})
    return len(RECORDER.store.docs(self.name))


@_answer
def distinct(self: Collection, key: str, filter: Any = None, *args: Any, **kwargs: Any) -> list[Any]:
    filter = _round_trip(self, filter or {})
    RECORDER.send({"op": "distinct", "collection": self.name, "key": key, "filter": filter})
    _check("distinct", self.name, allowlist.query_violations(filter, "filter"))
    seen: dict[Any, Any] = {}
    for doc in _find_docs(self, filter):
        value = engine.get_path(doc, key)
        for item in value if isinstance(value, list) else [value]:
            if item is not engine.MISSING:
                seen.setdefault(engine.hashable(item), item)
    return list(seen.values())


# Writes: the server's insert / update / delete commands, answered from the store, and pymongo's
# client side around them (its own bulk helpers, so results and BulkWriteError details have its shape).


def _journal(undo: Callable[[], None]) -> None:
    """Inside a transaction, how to take a write back if the transaction aborts."""
    session = RECORDER.session
    if session is not None and session.in_transaction:
        session.journal.append(undo)


def _take_out(docs: list[dict[str, Any]], stored: dict[str, Any]) -> None:
    docs[:] = [doc for doc in docs if doc is not stored]


def _swap(docs: list[dict[str, Any]], current: dict[str, Any], previous: dict[str, Any]) -> None:
    for position, doc in enumerate(docs):
        if doc is current:
            docs[position] = previous
            return


def _put_back(docs: list[dict[str, Any]], removed: list[tuple[int, dict[str, Any]]]) -> None:
    for position, doc in removed:
        docs.insert(min(position, len(docs)), doc)


def _fails_the_transaction() -> bool:
    """After a write error: inside a transaction the server stops the batch (even unordered) and aborts it."""
    session = RECORDER.session
    if session is None or not session.in_transaction:
        return False
    session.aborted_by_server()
    return True


def _shell(value: Any) -> str:
    """A value as the server spells it in `dup key: { ... }` (close enough to read, not byte-exact)."""
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None or value is engine.MISSING:
        return "null"
    if isinstance(value, ObjectId):
        return f"ObjectId('{value}')"
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.replace(tzinfo=UTC)
        return f"new Date({int(aware.timestamp() * 1000)})"
    return repr(value)


def _duplicate_error(self: Collection, index: str, doc: dict[str, Any]) -> dict[str, Any]:
    """A duplicate key write error as MongoDB 6.0 reports it (code, keyPattern, keyValue, errmsg)."""
    RECORDER.record({"op": "duplicate key", "collection": self.name, "index": index})
    pattern = dict(RECORDER.store.indexes[self.name][index]["key"])
    value = {field: engine.get_path(doc, field) for field in pattern}
    value = {field: None if v is engine.MISSING else v for field, v in value.items()}
    shown = ", ".join(f"{field}: {_shell(v)}" for field, v in value.items())
    message = (
        f"E11000 duplicate key error collection: {self.database.name}.{self.name} index: {index} dup key: {{ {shown} }}"
    )
    return {"code": 11000, "keyPattern": pattern, "keyValue": value, "errmsg": message}


def _reply(counts: dict[str, int], errors: list[dict[str, Any]]) -> dict[str, Any]:
    return {**counts, **({"writeErrors": errors} if errors else {}), "ok": 1.0}


def _insert_command(self: Collection, documents: list[Any], *, ordered: bool) -> dict[str, Any]:
    RECORDER.store.create(self.name)
    docs = RECORDER.store.docs(self.name)
    inserted, errors = 0, []
    for index, document in enumerate(documents):
        stored = _round_trip(self, document)
        violated = RECORDER.store.check_unique(self.name, stored)
        if violated:
            errors.append({"index": index, **_duplicate_error(self, violated, stored)})
            if _fails_the_transaction() or ordered:
                break
            continue
        docs.append(stored)
        _journal(functools.partial(_take_out, docs, stored))
        inserted += 1
    return _reply({"n": inserted}, errors)


_IMMUTABLE_ID = "Performing an update on the path '_id' would modify the immutable field '_id'"


def _update_statement(self: Collection, statement: dict[str, Any]) -> tuple[int, int, dict[str, Any] | None]:
    """One update statement: (matched, modified, write error). A failed statement counts nothing,
    but on a standalone server the documents it changed before failing stay changed."""
    filter, update = _round_trip(self, statement["q"]), _round_trip(self, statement["u"])
    replace = isinstance(update, dict) and not (update and next(iter(update)).startswith("$"))
    docs = RECORDER.store.docs(self.name)
    matched = modified = 0
    for position, doc in enumerate(list(docs)):
        if not engine.matches(doc, filter):
            continue
        matched += 1
        if replace:
            new = {"_id": doc["_id"], **update}
        else:
            new = _round_trip(self, engine.apply_update(doc, update, RECORDER.store.collections))
            if new.get("_id", engine.MISSING) != doc["_id"]:
                # As on a server (code 66): no update moves a value into or out of `_id`.
                RECORDER.record({"op": "immutable _id", "collection": self.name})
                return 0, 0, {"code": 66, "errmsg": _IMMUTABLE_ID}
        violated = RECORDER.store.check_unique(self.name, new, ignore=doc)
        if violated:
            return 0, 0, _duplicate_error(self, violated, new)
        # As the server: modified only when the stored bytes change (1 -> 1.0 or True does).
        if bson.encode(new, codec_options=self.codec_options) != bson.encode(doc, codec_options=self.codec_options):
            docs[position] = new
            _journal(functools.partial(_swap, docs, new, doc))
            modified += 1
        if not statement.get("multi"):
            break
    return matched, modified, None


def _update_command(self: Collection, statements: list[dict[str, Any]], *, ordered: bool) -> dict[str, Any]:
    matched = modified = 0
    errors = []
    for index, statement in enumerate(statements):
        n, n_modified, error = _update_statement(self, statement)
        if error:
            errors.append({"index": index, **error})
            if _fails_the_transaction() or ordered:
                break
            continue
        matched += n
        modified += n_modified
    return _reply({"n": matched, "nModified": modified}, errors)


def _delete_command(self: Collection, statements: list[dict[str, Any]], *, ordered: bool) -> dict[str, Any]:
    docs = RECORDER.store.docs(self.name)
    deleted = 0
    for statement in statements:
        filter = _round_trip(self, statement["q"])
        kept, removed = [], []
        for position, doc in enumerate(docs):
            if (statement["limit"] == 0 or not removed) and engine.matches(doc, filter):
                removed.append((position, doc))
            else:
                kept.append(doc)
        docs[:] = kept
        if removed:
            _journal(functools.partial(_put_back, docs, removed))
        deleted += len(removed)
    return _reply({"n": deleted}, [])


_COMMANDS: dict[int, Callable[..., dict[str, Any]]] = {
    _INSERT: _insert_command,
    _UPDATE: _update_command,
    _DELETE: _delete_command,
}


def _execute_bulk(self: Collection, bulk: _Bulk, kind: str) -> dict[str, Any]:
    """pymongo's `_Bulk.execute_command`, each command answered by the store.

    The same runs (ordered: consecutive requests of a kind, stopping after the
    first run with a write error; unordered: all inserts, then all updates,
    then all deletes, whatever the request order), merged by pymongo's own
    `_merge_command` and raised by its `_raise_bulk_write_error`, so results
    and `BulkWriteError.details` are pymongo's. Not simulated: the split of
    runs over 100,000 requests or 48 MB into several commands.
    """
    full_result: dict[str, Any] = {
        "writeErrors": [],
        "writeConcernErrors": [],
        "nInserted": 0,
        "nUpserted": 0,
        "nMatched": 0,
        "nModified": 0,
        "nRemoved": 0,
        "upserted": [],
    }
    runs = bulk.gen_ordered() if bulk.ordered else bulk.gen_unordered()
    for number, run in enumerate(runs):
        if number:
            RECORDER.command_sent(kind)
        reply = _COMMANDS[run.op_type](self, run.ops, ordered=bulk.ordered)
        _merge_command(run, full_result, 0, reply)
        if bulk.ordered and full_result["writeErrors"]:
            break
    if full_result["writeErrors"]:
        _raise_bulk_write_error(full_result)
    return full_result


@_answer
def insert_many(self: Collection, documents: Any, ordered: bool = True, *args: Any, **kwargs: Any) -> InsertManyResult:
    if not isinstance(documents, abc.Iterable) or isinstance(documents, abc.Mapping) or not documents:
        raise TypeError("documents must be a non-empty list")
    documents = list(documents)
    if not documents:
        raise InvalidOperation("No operations to execute")
    RECORDER.send(
        {"op": "insert_many", "collection": self.name, "documents": [_round_trip(self, d) for d in documents]}
    )
    for document in documents:
        if "_id" not in document:
            document["_id"] = ObjectId()  # pymongo adds it to the caller's document too
    bulk = _Bulk(self, ordered, None)
    bulk.ops = [(_INSERT, document) for document in documents]
    _execute_bulk(self, bulk, "insert_many")
    return InsertManyResult([document["_id"] for document in documents], True)


@_answer
def insert_one(self: Collection, document: Any, *args: Any, **kwargs: Any) -> InsertOneResult:
    RECORDER.send({"op": "insert_one", "collection": self.name, "document": _round_trip(self, document)})
    if "_id" not in document:
        document["_id"] = ObjectId()
    _check_write_command_response(_insert_command(self, [document], ordered=True))
    return InsertOneResult(document["_id"], True)


def _update(self: Collection, op: str, filter: Any, update: Any, *, many: bool, replace: bool = False) -> UpdateResult:
    if replace:
        validate_ok_for_replace(update)
    else:
        validate_ok_for_update(update)
    filter = _round_trip(self, filter)
    update = _round_trip(self, update)
    RECORDER.send({"op": op, "collection": self.name, "filter": filter, "update": update})
    _check(op, self.name, allowlist.query_violations(filter, "filter"))
    if not replace:
        _check(op, self.name, allowlist.update_violations(update))
    reply = _update_command(self, [{"q": filter, "u": update, "multi": many}], ordered=True)
    _check_write_command_response(reply)
    return UpdateResult({**reply, "updatedExisting": bool(reply["n"])}, True)


@_answer
def update_many(self: Collection, filter: Any, update: Any, *args: Any, **kwargs: Any) -> UpdateResult:
    return _update(self, "update_many", filter, update, many=True)


@_answer
def update_one(self: Collection, filter: Any, update: Any, *args: Any, **kwargs: Any) -> UpdateResult:
    return _update(self, "update_one", filter, update, many=False)


@_answer
def replace_one(self: Collection, filter: Any, replacement: Any, *args: Any, **kwargs: Any) -> UpdateResult:
    return _update(self, "replace_one", filter, replacement, many=False, replace=True)


def _delete(self: Collection, op: str, filter: Any, *, many: bool) -> DeleteResult:
    filter = _round_trip(self, filter)
    RECORDER.send({"op": op, "collection": self.name, "filter": filter})
    _check(op, self.name, allowlist.query_violations(filter, "filter"))
    return DeleteResult(_delete_command(self, [{"q": filter, "limit": 0 if many else 1}], ordered=True), True)


@_answer
def delete_many(self: Collection, filter: Any, *args: Any, **kwargs: Any) -> DeleteResult:
    return _delete(self, "delete_many", filter, many=True)


@_answer
def delete_one(self: Collection, filter: Any, *args: Any, **kwargs: Any) -> DeleteResult:
    return _delete(self, "delete_one", filter, many=False)


# The request options the store evaluates; any other (collation, arrayFilters, hint, sort) is refused.
_SIMULATED_REQUEST_KEYS = frozenset({"q", "u", "multi", "upsert", "limit"})


def _describe(self: Collection, op_type: int, op: Any) -> dict[str, Any]:
    """A bulk request as mongosh's `bulkWrite` spells it: {"updateOne": {"filter": ..., "update": ...}}."""
    op = _round_trip(self, op)
    if op_type == _INSERT:
        return {"insertOne": {"document": op}}
    options = {key: value for key, value in op.items() if key not in _SIMULATED_REQUEST_KEYS}
    if op.get("upsert"):
        options["upsert"] = True
    if op_type == _DELETE:
        return {"deleteOne" if op["limit"] else "deleteMany": {"filter": op["q"], **options}}
    if "multi" not in op:
        return {"replaceOne": {"filter": op["q"], "replacement": op["u"], **options}}
    return {"updateMany" if op["multi"] else "updateOne": {"filter": op["q"], "update": op["u"], **options}}


@_answer
def bulk_write(
    self: Collection,
    requests: Any,
    ordered: bool = True,
    bypass_document_validation: bool | None = None,
    session: Any = None,
    comment: Any = None,
    let: Any = None,
) -> BulkWriteResult:
    """InsertOne, UpdateOne, UpdateMany, ReplaceOne, DeleteOne, DeleteMany: recorded as one operation."""
    validate_list("requests", requests)
    bulk = _Bulk(self, ordered, bypass_document_validation, comment=comment, let=let)
    for request in requests:
        try:
            request._add_to_bulk(bulk)  # pymongo's own validation, and _ids added to inserted documents
        except AttributeError:
            raise TypeError(f"{request!r} is not a valid request") from None
    if not bulk.ops:
        raise InvalidOperation("No operations to execute")
    described = [_describe(self, op_type, op) for op_type, op in bulk.ops]
    RECORDER.send({"op": "bulk_write", "collection": self.name, "ordered": ordered, "requests": described})
    for index, request in enumerate(described):
        ((name, spec),) = request.items()
        where = f"requests[{index}].{name}"
        if "filter" in spec:
            _check("bulk_write", self.name, allowlist.query_violations(spec["filter"], f"{where}.filter"))
        if "update" in spec:
            _check("bulk_write", self.name, allowlist.update_violations(spec["update"], f"{where}.update"))
    refused = sorted(
        {key for spec in (next(iter(r.values())) for r in described) for key in spec}
        - {"document", "filter", "update", "replacement"}
    )
    if let is not None:
        refused.append("let")
    if refused:
        raise engine.EngineLimitation(f"bulk_write with {', '.join(refused)} is not simulated by the guard")
    return BulkWriteResult(_execute_bulk(self, bulk, "bulk_write"), True)


def _index_document(self: Collection, index: IndexModel) -> dict[str, Any]:
    document = dict(index.document)
    document["key"] = dict(document["key"])
    return _round_trip(self, document)


@_answer
def create_indexes(self: Collection, indexes: Any, *args: Any, **kwargs: Any) -> list[str]:
    documents = [_index_document(self, index) for index in indexes]
    RECORDER.send({"op": "create_indexes", "collection": self.name, "indexes": documents})
    RECORDER.store.create(self.name)
    for document in documents:
        if document.get("partialFilterExpression"):
            _check(
                "create_indexes", self.name, allowlist.query_violations(document["partialFilterExpression"], "partial")
            )
        RECORDER.store.indexes[self.name][document["name"]] = document
    return [document["name"] for document in documents]


def create_index(self: Collection, keys: Any, *args: Any, **kwargs: Any) -> str:
    (name,) = create_indexes(self, [IndexModel(keys, **kwargs)])
    return name


def drop_index(self: Collection, index_or_name: Any, *args: Any, **kwargs: Any) -> None:
    RECORDER.send({"op": "drop_index", "collection": self.name, "index": index_or_name})
    RECORDER.store.indexes.get(self.name, {}).pop(index_or_name, None)


def drop_indexes(self: Collection, *args: Any, **kwargs: Any) -> None:
    RECORDER.send({"op": "drop_indexes", "collection": self.name})
    RECORDER.store.indexes[self.name] = {}
    RECORDER.store.create(self.name)


def index_information(self: Collection, *args: Any, **kwargs: Any) -> dict[str, Any]:
    RECORDER.send({"op": "index_information", "collection": self.name})
    out = {}
    for name, document in RECORDER.store.indexes.get(self.name, {}).items():
        info = {k: v for k, v in document.items() if k not in ("name", "key")}
        info["key"] = list(document["key"].items())
        out[name] = info
    return out


def list_indexes(self: Collection, *args: Any, **kwargs: Any) -> FakeCursor:
    RECORDER.send({"op": "list_indexes", "collection": self.name})
    return FakeCursor([copy.deepcopy(d) for d in RECORDER.store.indexes.get(self.name, {}).values()])


def list_search_indexes(self: Collection, *args: Any, **kwargs: Any) -> FakeCursor:
    # As on MongoDB Community 6.0: Atlas Search is not there.
    raise OperationFailure("$listSearchIndexes stage is only allowed on MongoDB Atlas", 6047401)


def _atlas_only(self: Collection, *args: Any, **kwargs: Any) -> Any:
    RECORDER.problems.append(f"Atlas Search index operation on {self.name}: not available on MongoDB 6.0 Community")
    raise OperationFailure("Atlas Search is not available", 6047401)


def drop(self: Collection, *args: Any, **kwargs: Any) -> None:
    RECORDER.send({"op": "drop", "collection": self.name})
    RECORDER.store.drop(self.name)


def rename(self: Collection, new_name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    RECORDER.send({"op": "rename", "collection": self.name, "to": new_name})
    store = RECORDER.store
    if self.name not in store.collections:
        raise OperationFailure("source namespace does not exist", 26)
    if new_name in store.collections and not kwargs.get("dropTarget"):
        raise OperationFailure("target namespace exists", 48)
    store.collections[new_name] = store.collections.pop(self.name, [])
    store.indexes[new_name] = store.indexes.pop(self.name, {})
    return {"ok": 1.0}


def options(self: Collection, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return {}


def _not_simulated(name: str) -> Callable[..., Any]:
    def method(self: Any, *args: Any, **kwargs: Any) -> Any:
        RECORDER.problems.append(f"{name} is not simulated by the guard (the backend does not call it)")
        raise engine.EngineLimitation(f"{name} is not simulated by the guard")

    return method


# Database and client


def command(self: Database, command: Any, value: Any = 1, *args: Any, **kwargs: Any) -> dict[str, Any]:
    if isinstance(command, str):
        name, body = command, value
    else:
        name, body = next(iter(command)), dict(command)
    RECORDER.send(
        {"op": "command", "database": self.name, "command": name, "body": body if name == "explain" else None}
    )
    if name not in allowlist.COMMANDS:
        RECORDER.problems.append(f"database command {name!r} is not answered by the guard")
        raise engine.EngineLimitation(f"command {name}")
    if name == "ping":
        return {"ok": 1.0}
    if name == "hello":
        if RECORDER.replica_set:
            # A one-node replica set: `setName` is what the backend's _supports_transactions looks for.
            return {"isWritablePrimary": True, "setName": "rs0", "maxWireVersion": 17, "ok": 1.0}
        # A standalone 6.0 server (no setName: no transactions, as the project assumes).
        return {"isWritablePrimary": True, "maxWireVersion": 17, "ok": 1.0}
    if name in ("buildinfo", "buildInfo"):
        return _SERVER_INFO
    explained = body if isinstance(body, dict) else {}
    _check("explain", str(explained.get("aggregate")), allowlist.pipeline_violations(explained.get("pipeline", [])))
    return {"queryPlanner": {"winningPlan": {"stage": "COLLSCAN"}}, "ok": 1.0}


def list_collection_names(self: Database, *args: Any, **kwargs: Any) -> list[str]:
    RECORDER.send({"op": "list_collection_names", "database": self.name})
    return sorted(RECORDER.store.collections)


def list_collections(self: Database, *args: Any, **kwargs: Any) -> FakeCursor:
    RECORDER.send({"op": "list_collections", "database": self.name})
    return FakeCursor(
        [{"name": name, "type": "collection", "options": {}} for name in sorted(RECORDER.store.collections)]
    )


def create_collection(self: Database, name: str, *args: Any, **kwargs: Any) -> Collection:
    RECORDER.send({"op": "create_collection", "database": self.name, "collection": name})
    RECORDER.store.create(name)
    return Collection(self, name)


def drop_collection(self: Database, name_or_collection: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    name = getattr(name_or_collection, "name", name_or_collection)
    RECORDER.send({"op": "drop_collection", "database": self.name, "collection": name})
    RECORDER.store.drop(name)
    return {"ok": 1.0}


_SERVER_INFO = {"version": "6.0.0", "versionArray": [6, 0, 0, 0], "ok": 1.0}


def server_info(self: MongoClient, *args: Any, **kwargs: Any) -> dict[str, Any]:
    return dict(_SERVER_INFO)


def start_session(self: MongoClient, *args: Any, **kwargs: Any) -> FakeSession:
    return FakeSession(RECORDER)


def list_database_names(self: MongoClient, *args: Any, **kwargs: Any) -> list[str]:
    return []


def drop_database(self: MongoClient, *args: Any, **kwargs: Any) -> None:
    RECORDER.send({"op": "drop_database"})
    RECORDER.store = Store()


def _no_server(self: MongoClient, *args: Any, **kwargs: Any) -> Any:
    RECORDER.problems.append("something tried to reach a MongoDB server (a pymongo call the guard does not patch)")
    raise ServerSelectionTimeoutError("the MQL guard runs without a server")


COLLECTION_METHODS: dict[str, Callable[..., Any]] = {
    "aggregate": aggregate,
    "find": find,
    "find_one": find_one,
    "count_documents": count_documents,
    "estimated_document_count": estimated_document_count,
    "distinct": distinct,
    "insert_one": insert_one,
    "insert_many": insert_many,
    "update_one": update_one,
    "update_many": update_many,
    "replace_one": replace_one,
    "delete_one": delete_one,
    "delete_many": delete_many,
    "create_index": create_index,
    "create_indexes": create_indexes,
    "drop_index": drop_index,
    "drop_indexes": drop_indexes,
    "index_information": index_information,
    "list_indexes": list_indexes,
    "list_search_indexes": list_search_indexes,
    "create_search_index": _atlas_only,
    "create_search_indexes": _atlas_only,
    "drop_search_index": _atlas_only,
    "update_search_index": _atlas_only,
    "drop": drop,
    "rename": rename,
    "options": options,
    "bulk_write": bulk_write,
    "find_one_and_update": _not_simulated("Collection.find_one_and_update"),
    "find_one_and_replace": _not_simulated("Collection.find_one_and_replace"),
    "find_one_and_delete": _not_simulated("Collection.find_one_and_delete"),
    "watch": _not_simulated("Collection.watch"),
    "aggregate_raw_batches": _not_simulated("Collection.aggregate_raw_batches"),
    "find_raw_batches": _not_simulated("Collection.find_raw_batches"),
}
DATABASE_METHODS: dict[str, Callable[..., Any]] = {
    "command": command,
    "list_collection_names": list_collection_names,
    "list_collections": list_collections,
    "create_collection": create_collection,
    "drop_collection": drop_collection,
    "aggregate": _not_simulated("Database.aggregate"),
    "watch": _not_simulated("Database.watch"),
    "cursor_command": _not_simulated("Database.cursor_command"),
    "validate_collection": _not_simulated("Database.validate_collection"),
}
CLIENT_METHODS: dict[str, Callable[..., Any]] = {
    "server_info": server_info,
    "start_session": start_session,
    "list_database_names": list_database_names,
    "drop_database": drop_database,
    "_get_topology": _no_server,
}


def _watch_compiler(cls: type, name: str) -> Callable[..., Any]:
    original = cls.__dict__[name]

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return original(self, *args, **kwargs)
        except Exception as exc:
            RECORDER.backend_error(exc)
            raise

    return wrapper


def _watch_not_supported() -> None:
    """Every NotSupportedError made anywhere (Django's QuerySet checks raise some outside the compilers)."""
    from django.db.utils import NotSupportedError

    original = NotSupportedError.__init__

    def __init__(self: Exception, *args: Any) -> None:
        original(self, *args)
        if RECORDER.expected_errors:
            RECORDER.expected_errors -= 1
            self._guard_seen = True  # type: ignore[attr-defined]
            return
        where = "".join(traceback.format_stack(limit=6)[:-1]).strip()
        RECORDER.problems.append(f"NotSupportedError: {' '.join(map(str, args))}\n{where}")
        self._guard_seen = True  # type: ignore[attr-defined]

    NotSupportedError.__init__ = __init__  # type: ignore[method-assign]


def _carrying_session(method: Callable[..., Any]) -> Callable[..., Any]:
    """Note the session a call carries (`session=` as the backend and the app pass it), for its records."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        session = kwargs.get("session")
        previous, RECORDER.session = RECORDER.session, session if isinstance(session, FakeSession) else None
        try:
            return method(self, *args, **kwargs)
        finally:
            RECORDER.session = previous

    return wrapper


def install() -> Recorder:
    """Patch pymongo and the backend's compilers for the rest of the process (the guard's own pytest run)."""
    from django_mongodb_backend import base, compiler

    _watch_not_supported()

    for name, method in COLLECTION_METHODS.items():
        setattr(Collection, name, _carrying_session(method))
    for name, method in DATABASE_METHODS.items():
        setattr(Database, name, _carrying_session(method))
    for name, method in CLIENT_METHODS.items():
        setattr(MongoClient, name, method)
    # No monitor threads dialling the URI in the background: nothing connects until an unpatched call.
    base.MongoClient = functools.partial(MongoClient, connect=False)  # type: ignore[attr-defined]
    for cls in (
        compiler.SQLCompiler,
        compiler.SQLInsertCompiler,
        compiler.SQLDeleteCompiler,
        compiler.SQLUpdateCompiler,
    ):
        for name in ("execute_sql", "explain_query"):
            if name in cls.__dict__:
                setattr(cls, name, _watch_compiler(cls, name))
    return RECORDER
