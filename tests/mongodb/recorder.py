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

`Recorder.path(name)` records one code path's operations and compares them,
normalized, with `fixtures/<name>.json` (`UPDATE_MQL_FIXTURES=1` rewrites).
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
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from bson import ObjectId
from bson.errors import BSONError
from bson.son import SON
from pymongo import IndexModel
from pymongo.collection import Collection
from pymongo.database import Database
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    ServerSelectionTimeoutError,
    WriteError,
)
from pymongo.mongo_client import MongoClient
from pymongo.results import DeleteResult, InsertManyResult, InsertOneResult, UpdateResult

from tests.mongodb import allowlist, engine

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


class FakeSession:
    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.in_transaction = False

    def start_transaction(self, *args: Any, **kwargs: Any) -> None:
        self.recorder.record({"op": "session.start_transaction"})
        self.in_transaction = True

    def commit_transaction(self) -> None:
        self.recorder.record({"op": "session.commit_transaction"})
        self.in_transaction = False

    def abort_transaction(self) -> None:
        self.recorder.record({"op": "session.abort_transaction"})
        self.in_transaction = False

    def end_session(self) -> None:
        self.in_transaction = False

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
_DATA_KEYS = {"documents", "document", "$literal"}
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

    # --- recording ------------------------------------------------------------------

    def record(self, operation: dict[str, Any]) -> None:
        self.counts[operation["op"]] = self.counts.get(operation["op"], 0) + 1
        if self.log is not None:
            self.log.append(copy.deepcopy(operation))

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
    RECORDER.record({"op": "aggregate", "collection": self.name, "pipeline": pipeline})
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
    RECORDER.record({"op": "find", "collection": self.name, "filter": filter, "projection": projection})
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
    RECORDER.record({"op": "count_documents", "collection": self.name, "filter": filter})
    _check("count_documents", self.name, allowlist.query_violations(filter, "filter"))
    return len(_find_docs(self, filter))


def estimated_document_count(self: Collection, *args: Any, **kwargs: Any) -> int:
    RECORDER.record({"op": "estimated_document_count", "collection": self.name})
    return len(RECORDER.store.docs(self.name))


@_answer
def distinct(self: Collection, key: str, filter: Any = None, *args: Any, **kwargs: Any) -> list[Any]:
    filter = _round_trip(self, filter or {})
    RECORDER.record({"op": "distinct", "collection": self.name, "key": key, "filter": filter})
    _check("distinct", self.name, allowlist.query_violations(filter, "filter"))
    seen: dict[Any, Any] = {}
    for doc in _find_docs(self, filter):
        value = engine.get_path(doc, key)
        for item in value if isinstance(value, list) else [value]:
            if item is not engine.MISSING:
                seen.setdefault(engine.hashable(item), item)
    return list(seen.values())


def _insert(self: Collection, doc: dict[str, Any]) -> tuple[Any, str | None]:
    if "_id" not in doc:
        doc["_id"] = ObjectId()  # pymongo adds it to the caller's document too
    stored = _round_trip(self, doc)
    RECORDER.store.create(self.name)
    violated = RECORDER.store.check_unique(self.name, stored)
    if violated is None:
        RECORDER.store.docs(self.name).append(stored)
    return doc["_id"], violated


def _duplicate_message(self: Collection, index: str) -> str:
    return f"E11000 duplicate key error collection: {self.database.name}.{self.name} index: {index}"


@_answer
def insert_many(self: Collection, documents: Any, ordered: bool = True, *args: Any, **kwargs: Any) -> InsertManyResult:
    documents = list(documents)
    RECORDER.record(
        {"op": "insert_many", "collection": self.name, "documents": [_round_trip(self, d) for d in documents]}
    )
    ids, errors = [], []
    for index, doc in enumerate(documents):
        inserted_id, violated = _insert(self, doc)
        if violated:
            errors.append({"index": index, "code": 11000, "errmsg": _duplicate_message(self, violated)})
            if ordered:
                break
        else:
            ids.append(inserted_id)
    if errors:
        RECORDER.record({"op": "duplicate key", "collection": self.name, "index": errors[0]["errmsg"].split()[-1]})
        raise BulkWriteError({"writeErrors": errors, "nInserted": len(ids)})
    return InsertManyResult(ids, True)


@_answer
def insert_one(self: Collection, document: Any, *args: Any, **kwargs: Any) -> InsertOneResult:
    RECORDER.record({"op": "insert_one", "collection": self.name, "document": _round_trip(self, document)})
    inserted_id, violated = _insert(self, document)
    if violated:
        raise DuplicateKeyError(_duplicate_message(self, violated), 11000)
    return InsertOneResult(inserted_id, True)


_IMMUTABLE_ID = "Performing an update on the path '_id' would modify the immutable field '_id'"


def _update(self: Collection, op: str, filter: Any, update: Any, *, many: bool, replace: bool = False) -> UpdateResult:
    filter = _round_trip(self, filter)
    update = _round_trip(self, update)
    RECORDER.record({"op": op, "collection": self.name, "filter": filter, "update": update})
    _check(op, self.name, allowlist.query_violations(filter, "filter"))
    if not replace:
        _check(op, self.name, allowlist.update_violations(update))
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
                raise WriteError(_IMMUTABLE_ID, 66, {"code": 66, "errmsg": _IMMUTABLE_ID})
        violated = RECORDER.store.check_unique(self.name, new, ignore=doc)
        if violated:
            RECORDER.record({"op": "duplicate key", "collection": self.name, "index": violated})
            raise DuplicateKeyError(_duplicate_message(self, violated), 11000)
        if new != doc:
            docs[position] = new
            modified += 1
        if not many:
            break
    return UpdateResult({"n": matched, "nModified": modified, "ok": 1.0}, True)


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
    RECORDER.record({"op": op, "collection": self.name, "filter": filter})
    _check(op, self.name, allowlist.query_violations(filter, "filter"))
    docs = RECORDER.store.docs(self.name)
    kept, deleted = [], 0
    for doc in docs:
        if (many or not deleted) and engine.matches(doc, filter):
            deleted += 1
        else:
            kept.append(doc)
    docs[:] = kept
    return DeleteResult({"n": deleted, "ok": 1.0}, True)


@_answer
def delete_many(self: Collection, filter: Any, *args: Any, **kwargs: Any) -> DeleteResult:
    return _delete(self, "delete_many", filter, many=True)


@_answer
def delete_one(self: Collection, filter: Any, *args: Any, **kwargs: Any) -> DeleteResult:
    return _delete(self, "delete_one", filter, many=False)


def _index_document(self: Collection, index: IndexModel) -> dict[str, Any]:
    document = dict(index.document)
    document["key"] = dict(document["key"])
    return _round_trip(self, document)


@_answer
def create_indexes(self: Collection, indexes: Any, *args: Any, **kwargs: Any) -> list[str]:
    documents = [_index_document(self, index) for index in indexes]
    RECORDER.record({"op": "create_indexes", "collection": self.name, "indexes": documents})
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
    RECORDER.record({"op": "drop_index", "collection": self.name, "index": index_or_name})
    RECORDER.store.indexes.get(self.name, {}).pop(index_or_name, None)


def drop_indexes(self: Collection, *args: Any, **kwargs: Any) -> None:
    RECORDER.record({"op": "drop_indexes", "collection": self.name})
    RECORDER.store.indexes[self.name] = {}
    RECORDER.store.create(self.name)


def index_information(self: Collection, *args: Any, **kwargs: Any) -> dict[str, Any]:
    RECORDER.record({"op": "index_information", "collection": self.name})
    out = {}
    for name, document in RECORDER.store.indexes.get(self.name, {}).items():
        info = {k: v for k, v in document.items() if k not in ("name", "key")}
        info["key"] = list(document["key"].items())
        out[name] = info
    return out


def list_indexes(self: Collection, *args: Any, **kwargs: Any) -> FakeCursor:
    RECORDER.record({"op": "list_indexes", "collection": self.name})
    return FakeCursor([copy.deepcopy(d) for d in RECORDER.store.indexes.get(self.name, {}).values()])


def list_search_indexes(self: Collection, *args: Any, **kwargs: Any) -> FakeCursor:
    # As on MongoDB Community 6.0: Atlas Search is not there.
    raise OperationFailure("$listSearchIndexes stage is only allowed on MongoDB Atlas", 6047401)


def _atlas_only(self: Collection, *args: Any, **kwargs: Any) -> Any:
    RECORDER.problems.append(f"Atlas Search index operation on {self.name}: not available on MongoDB 6.0 Community")
    raise OperationFailure("Atlas Search is not available", 6047401)


def drop(self: Collection, *args: Any, **kwargs: Any) -> None:
    RECORDER.record({"op": "drop", "collection": self.name})
    RECORDER.store.drop(self.name)


def rename(self: Collection, new_name: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
    RECORDER.record({"op": "rename", "collection": self.name, "to": new_name})
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
    RECORDER.record(
        {"op": "command", "database": self.name, "command": name, "body": body if name == "explain" else None}
    )
    if name not in allowlist.COMMANDS:
        RECORDER.problems.append(f"database command {name!r} is not answered by the guard")
        raise engine.EngineLimitation(f"command {name}")
    if name == "ping":
        return {"ok": 1.0}
    if name == "hello":
        # A standalone 6.0 server (no setName: no transactions, as the project assumes).
        return {"isWritablePrimary": True, "maxWireVersion": 17, "ok": 1.0}
    if name in ("buildinfo", "buildInfo"):
        return _SERVER_INFO
    explained = body if isinstance(body, dict) else {}
    _check("explain", str(explained.get("aggregate")), allowlist.pipeline_violations(explained.get("pipeline", [])))
    return {"queryPlanner": {"winningPlan": {"stage": "COLLSCAN"}}, "ok": 1.0}


def list_collection_names(self: Database, *args: Any, **kwargs: Any) -> list[str]:
    RECORDER.record({"op": "list_collection_names", "database": self.name})
    return sorted(RECORDER.store.collections)


def list_collections(self: Database, *args: Any, **kwargs: Any) -> FakeCursor:
    RECORDER.record({"op": "list_collections", "database": self.name})
    return FakeCursor(
        [{"name": name, "type": "collection", "options": {}} for name in sorted(RECORDER.store.collections)]
    )


def create_collection(self: Database, name: str, *args: Any, **kwargs: Any) -> Collection:
    RECORDER.record({"op": "create_collection", "database": self.name, "collection": name})
    RECORDER.store.create(name)
    return Collection(self, name)


def drop_collection(self: Database, name_or_collection: Any, *args: Any, **kwargs: Any) -> dict[str, Any]:
    name = getattr(name_or_collection, "name", name_or_collection)
    RECORDER.record({"op": "drop_collection", "database": self.name, "collection": name})
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
    RECORDER.record({"op": "drop_database"})
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
    "bulk_write": _not_simulated("Collection.bulk_write"),
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


def install() -> Recorder:
    """Patch pymongo and the backend's compilers for the rest of the process (the guard's own pytest run)."""
    from django_mongodb_backend import base, compiler

    _watch_not_supported()

    for name, method in COLLECTION_METHODS.items():
        setattr(Collection, name, method)
    for name, method in DATABASE_METHODS.items():
        setattr(Database, name, method)
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
