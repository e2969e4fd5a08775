"""A small in-memory stand-in for the MongoDB collections the guard's recorder answers from.

It evaluates the subset of MQL that django-mongodb-backend emits for this
project (query operators in `$match`, the pipeline stages and expression
operators of `allowlist.py`) well enough for a code path to get plausible
data back: the authenticated user, the job being shown, the run being
executed. It is not MongoDB: what it proves is that the backend compiled
every query, not that MongoDB would answer the same. Documents go through a
BSON round trip on the way in and out, as with a server (millisecond
datetimes, naive UTC, values BSON cannot encode rejected), and unique
indexes created by the migrations are enforced, so a lost claim raises
`DuplicateKeyError` like MongoDB does.

Operators the engine cannot evaluate raise `EngineLimitation`: the guard
then fails loudly rather than answering something made up.
"""

from __future__ import annotations

import copy
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import bson
from bson import ObjectId
from bson.codec_options import CodecOptions
from bson.regex import Regex


class EngineLimitation(Exception):
    """The in-memory engine does not evaluate this (the guard's limit, not MongoDB's)."""


class _Missing:
    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Any = _Missing()
REMOVE: Any = object()
CODEC = CodecOptions()


def bson_round_trip(value: Any, codec: CodecOptions = CODEC) -> Any:
    """What a value looks like after a trip to the server and back (raises for values BSON cannot encode)."""
    return bson.decode(bson.encode({"v": value}, codec_options=codec), codec_options=codec)["v"]


# --- BSON ordering -----------------------------------------------------------------


def _rank(value: Any) -> int:
    # MongoDB's comparison order of BSON types.
    if value is MISSING or value is None:
        return 1
    if isinstance(value, bool):
        return 8
    if isinstance(value, (int, float)):
        return 2
    if isinstance(value, str):
        return 3
    if isinstance(value, dict):
        return 4
    if isinstance(value, list):
        return 5
    if isinstance(value, (bytes, bson.Binary)):
        return 6
    if isinstance(value, ObjectId):
        return 7
    if isinstance(value, datetime):
        return 9
    if isinstance(value, (re.Pattern, Regex)):
        return 11
    raise EngineLimitation(f"no BSON order for {type(value).__name__}")


def compare(a: Any, b: Any) -> int:
    ra, rb = _rank(a), _rank(b)
    if ra != rb:
        return -1 if ra < rb else 1
    if ra == 1:
        return 0
    if ra == 4:
        for (ka, va), (kb, vb) in zip(a.items(), b.items(), strict=False):
            if ka != kb:
                return -1 if ka < kb else 1
            c = compare(va, vb)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if ra == 5:
        for va, vb in zip(a, b, strict=False):
            c = compare(va, vb)
            if c:
                return c
        return (len(a) > len(b)) - (len(a) < len(b))
    if ra == 9:
        a, b = _naive(a), _naive(b)
    if ra == 11:
        a, b = str(a), str(b)
    return (a > b) - (a < b)


def _naive(value: datetime) -> datetime:
    return value.astimezone(UTC).replace(tzinfo=None) if value.tzinfo else value


def equal(a: Any, b: Any) -> bool:
    return compare(a, b) == 0


def hashable(value: Any) -> Any:
    if isinstance(value, dict):
        return ("{", tuple((k, hashable(v)) for k, v in value.items()))
    if isinstance(value, list):
        return ("[", tuple(hashable(v) for v in value))
    if value is MISSING:
        return None
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, datetime):
        return ("date", _naive(value))
    return value


def truthy(value: Any) -> bool:
    return not (value is MISSING or value is None or value is False or (_rank(value) == 2 and value == 0))


# --- paths ------------------------------------------------------------------------


def get_path(doc: Any, path: str) -> Any:
    current = doc
    parts = path.split(".")
    for index, part in enumerate(parts):
        if isinstance(current, dict):
            current = current.get(part, MISSING)
        elif isinstance(current, list):
            if part.isdigit():
                current = current[int(part)] if int(part) < len(current) else MISSING
            else:
                rest = ".".join(parts[index:])
                values = [get_path(item, rest) for item in current if isinstance(item, dict)]
                return [v for v in values if v is not MISSING]
        else:
            return MISSING
    return current


def set_path(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        child = doc.get(part)
        if not isinstance(child, dict):
            child = doc[part] = {}
        doc = child
    if value is MISSING or value is REMOVE:
        doc.pop(last, None)
    else:
        doc[last] = value


def unset_path(doc: dict[str, Any], path: str) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.get(part)  # type: ignore[assignment]
        if not isinstance(doc, dict):
            return
    doc.pop(last, None)


# --- query operators ($match, filters) ------------------------------------------------------


def matches(doc: dict[str, Any], query: dict[str, Any], variables: dict[str, Any] | None = None) -> bool:
    for key, condition in query.items():
        if key == "$and":
            ok = all(matches(doc, part, variables) for part in condition)
        elif key == "$or":
            ok = any(matches(doc, part, variables) for part in condition)
        elif key == "$nor":
            ok = not any(matches(doc, part, variables) for part in condition)
        elif key == "$expr":
            ok = truthy(evaluate(condition, doc, variables or {}))
        elif key.startswith("$"):
            raise EngineLimitation(f"top-level query operator {key}")
        else:
            ok = _match_field(get_path(doc, key), condition)
        if not ok:
            return False
    return True


def _is_operator_doc(condition: Any) -> bool:
    return isinstance(condition, dict) and bool(condition) and all(k.startswith("$") for k in condition)


def _candidates(value: Any) -> list[Any]:
    if isinstance(value, list):
        return [value, *value]
    return [value]


def _query_equal(value: Any, target: Any) -> bool:
    if isinstance(target, (re.Pattern, Regex)):
        return _regex_match(value, target.pattern, _flags_of(target))
    if target is None:
        return value is MISSING or value is None or (isinstance(value, list) and None in value)
    return any(c is not MISSING and equal(c, target) for c in _candidates(value))


def _same_bracket(a: Any, b: Any) -> bool:
    return a is not MISSING and _rank(a) == _rank(b)


def _flags_of(pattern: Any) -> str:
    if isinstance(pattern, Regex):
        flags = pattern.flags
        return "".join(ch for ch, bit in (("i", re.I), ("m", re.M), ("s", re.S), ("x", re.X)) if flags & bit)
    if isinstance(pattern, re.Pattern):
        return "".join(ch for ch, bit in (("i", re.I), ("m", re.M), ("s", re.S), ("x", re.X)) if pattern.flags & bit)
    return ""


def _compile(pattern: str, options: str) -> re.Pattern[str]:
    flags = 0
    for ch, bit in (("i", re.I), ("m", re.M), ("s", re.S), ("x", re.X)):
        if ch in (options or ""):
            flags |= bit
    return re.compile(pattern, flags)


def _regex_match(value: Any, pattern: str, options: str) -> bool:
    compiled = _compile(pattern, options)
    return any(isinstance(c, str) and compiled.search(c) for c in _candidates(value))


def _match_field(value: Any, condition: Any) -> bool:
    if not _is_operator_doc(condition):
        return _query_equal(value, condition)
    for op, arg in condition.items():
        if op == "$options":
            continue
        if op == "$eq":
            ok = _query_equal(value, arg)
        elif op == "$ne":
            ok = not _query_equal(value, arg)
        elif op in ("$gt", "$gte", "$lt", "$lte"):
            test: Callable[[int], bool] = {
                "$gt": lambda c: c > 0,
                "$gte": lambda c: c >= 0,
                "$lt": lambda c: c < 0,
                "$lte": lambda c: c <= 0,
            }[op]
            if arg is None and op in ("$gte", "$lte"):
                ok = _query_equal(value, None)
            else:
                ok = any(_same_bracket(c, arg) and test(compare(c, arg)) for c in _candidates(value))
        elif op == "$in":
            ok = any(_query_equal(value, target) for target in arg)
        elif op == "$nin":
            ok = not any(_query_equal(value, target) for target in arg)
        elif op == "$exists":
            ok = (value is not MISSING) == bool(arg)
        elif op == "$regex":
            if isinstance(arg, (re.Pattern, Regex)):
                ok = _regex_match(value, arg.pattern, _flags_of(arg) + condition.get("$options", ""))
            else:
                ok = _regex_match(value, arg, condition.get("$options", ""))
        elif op == "$not":
            ok = not _match_field(value, arg)
        elif op == "$size":
            ok = isinstance(value, list) and len(value) == arg
        elif op == "$all":
            ok = all(_query_equal(value, target) for target in arg)
        elif op == "$elemMatch":
            ok = isinstance(value, list) and any(
                (
                    matches(item, arg)
                    if isinstance(item, dict) and not _is_operator_doc(arg)
                    else _match_field(item, arg)
                )
                for item in value
            )
        elif op == "$type":
            names = arg if isinstance(arg, list) else [arg]
            ok = type_name(value) in names
        else:
            raise EngineLimitation(f"query operator {op}")
        if not ok:
            return False
    return True


# --- aggregation expressions -------------------------------------------------------------------


def type_name(value: Any) -> str:
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, bson.Int64):
        return "long"
    if isinstance(value, int):
        return "int" if -(2**31) <= value < 2**31 else "long"
    if isinstance(value, float):
        return "double"
    if isinstance(value, str):
        return "string"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, ObjectId):
        return "objectId"
    if isinstance(value, datetime):
        return "date"
    if isinstance(value, (bytes, bson.Binary)):
        return "binData"
    if isinstance(value, bson.Decimal128):
        return "decimal"
    return "unknown"


OPERATORS: dict[str, Callable[[Any, Any, dict[str, Any]], Any]] = {}


def operator(*names: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def register(func: Callable[..., Any]) -> Callable[..., Any]:
        for name in names:
            OPERATORS[name] = func
        return func

    return register


def evaluate(expr: Any, doc: Any, variables: dict[str, Any]) -> Any:
    if isinstance(expr, str):
        if expr.startswith("$$"):
            name, _, rest = expr[2:].partition(".")
            if name == "ROOT" or name == "CURRENT":
                base = variables.get("ROOT", doc)
            elif name == "NOW":
                base = datetime.now(UTC).replace(tzinfo=None, microsecond=0)
            elif name == "REMOVE":
                return REMOVE
            elif name in variables:
                base = variables[name]
            else:
                raise EngineLimitation(f"unknown variable $${name}")
            return get_path(base, rest) if rest else base
        if expr.startswith("$"):
            return get_path(doc, expr[1:])
        return expr
    if isinstance(expr, list):
        return [evaluate(item, doc, variables) for item in expr]
    if isinstance(expr, dict):
        if len(expr) == 1:
            (key,) = expr
            if key.startswith("$"):
                func = OPERATORS.get(key)
                if func is None:
                    raise EngineLimitation(f"expression operator {key}")
                return func(expr[key], doc, variables)
        out = {}
        for key, value in expr.items():
            result = evaluate(value, doc, variables)
            if result is not MISSING and result is not REMOVE:
                out[key] = result
        return out
    return expr


def _args(args: Any, doc: Any, variables: dict[str, Any]) -> list[Any]:
    if not isinstance(args, list):
        args = [args]
    return [evaluate(arg, doc, variables) for arg in args]


def _nullish(value: Any) -> bool:
    return value is None or value is MISSING


@operator("$literal")
def _literal(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    return copy.deepcopy(args)


def _comparison(test: Callable[[int], bool]) -> Callable[[Any, Any, dict[str, Any]], bool]:
    def apply(args: Any, doc: Any, variables: dict[str, Any]) -> bool:
        a, b = _args(args, doc, variables)
        return test(compare(None if a is MISSING else a, None if b is MISSING else b))

    return apply


for _name, _test in (
    ("$eq", lambda c: c == 0),
    ("$ne", lambda c: c != 0),
    ("$gt", lambda c: c > 0),
    ("$gte", lambda c: c >= 0),
    ("$lt", lambda c: c < 0),
    ("$lte", lambda c: c <= 0),
):
    OPERATORS[_name] = _comparison(_test)


@operator("$cmp")
def _cmp(args: Any, doc: Any, variables: dict[str, Any]) -> int:
    a, b = _args(args, doc, variables)
    return compare(a, b)


@operator("$and")
def _and(args: Any, doc: Any, variables: dict[str, Any]) -> bool:
    return all(truthy(evaluate(arg, doc, variables)) for arg in (args if isinstance(args, list) else [args]))


@operator("$or")
def _or(args: Any, doc: Any, variables: dict[str, Any]) -> bool:
    return any(truthy(evaluate(arg, doc, variables)) for arg in (args if isinstance(args, list) else [args]))


@operator("$not")
def _not(args: Any, doc: Any, variables: dict[str, Any]) -> bool:
    (value,) = _args(args, doc, variables)
    return not truthy(value)


@operator("$in")
def _in(args: Any, doc: Any, variables: dict[str, Any]) -> bool:
    needle, haystack = _args(args, doc, variables)
    if not isinstance(haystack, list):
        raise EngineLimitation("$in needs an array (MongoDB raises here too)")
    return any(equal(needle, item) for item in haystack)


@operator("$cond")
def _cond(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    if isinstance(args, dict):
        condition, then, otherwise = args["if"], args["then"], args["else"]
    else:
        condition, then, otherwise = args
    return evaluate(then if truthy(evaluate(condition, doc, variables)) else otherwise, doc, variables)


@operator("$switch")
def _switch(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    for branch in args["branches"]:
        if truthy(evaluate(branch["case"], doc, variables)):
            return evaluate(branch["then"], doc, variables)
    if "default" not in args:
        raise EngineLimitation("$switch without a matching branch or default")
    return evaluate(args["default"], doc, variables)


@operator("$ifNull")
def _if_null(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    values = _args(args, doc, variables)
    for value in values[:-1]:
        if not _nullish(value):
            return value
    return values[-1]


@operator("$type")
def _type(args: Any, doc: Any, variables: dict[str, Any]) -> str:
    (value,) = _args(args, doc, variables)
    return type_name(value)


@operator("$size")
def _size(args: Any, doc: Any, variables: dict[str, Any]) -> int:
    (value,) = _args(args, doc, variables)
    if not isinstance(value, list):
        raise EngineLimitation("$size of a non-array (MongoDB raises here too)")
    return len(value)


@operator("$isArray")
def _is_array(args: Any, doc: Any, variables: dict[str, Any]) -> bool:
    (value,) = _args(args, doc, variables)
    return isinstance(value, list)


@operator("$concat")
def _concat(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    values = _args(args, doc, variables)
    if any(_nullish(v) for v in values):
        return None
    return "".join(values)


@operator("$toLower")
def _to_lower(args: Any, doc: Any, variables: dict[str, Any]) -> str:
    (value,) = _args(args, doc, variables)
    return "" if _nullish(value) else str(value).lower()


@operator("$toUpper")
def _to_upper(args: Any, doc: Any, variables: dict[str, Any]) -> str:
    (value,) = _args(args, doc, variables)
    return "" if _nullish(value) else str(value).upper()


@operator("$toString")
def _to_string(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    (value,) = _args(args, doc, variables)
    if _nullish(value):
        return None
    if isinstance(value, datetime):
        return _naive(value).isoformat(timespec="milliseconds") + "Z"
    return str(value).lower() if isinstance(value, bool) else str(value)


@operator("$regexMatch")
def _regex_match_expr(args: Any, doc: Any, variables: dict[str, Any]) -> bool:
    value = evaluate(args["input"], doc, variables)
    pattern = evaluate(args["regex"], doc, variables)
    options = evaluate(args.get("options", ""), doc, variables) or ""
    if _nullish(value):
        return False
    if isinstance(pattern, (re.Pattern, Regex)):
        options += _flags_of(pattern)
        pattern = pattern.pattern
    return bool(_compile(pattern, options).search(value))


def _number(value: Any) -> Any:
    return None if _nullish(value) else value


@operator("$add")
def _add(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    values = _args(args, doc, variables)
    if any(_nullish(v) for v in values):
        return None
    dates = [v for v in values if isinstance(v, datetime)]
    numbers = sum(v for v in values if not isinstance(v, datetime))
    if dates:
        return dates[0] + timedelta(milliseconds=numbers)
    return numbers


@operator("$subtract")
def _subtract(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    a, b = _args(args, doc, variables)
    if _nullish(a) or _nullish(b):
        return None
    if isinstance(a, datetime) and isinstance(b, datetime):
        return int((_naive(a) - _naive(b)).total_seconds() * 1000)
    if isinstance(a, datetime):
        return a - timedelta(milliseconds=b)
    return a - b


@operator("$multiply")
def _multiply(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    values = _args(args, doc, variables)
    if any(_nullish(v) for v in values):
        return None
    return functools.reduce(lambda x, y: x * y, values, 1)


@operator("$divide")
def _divide(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    a, b = _args(args, doc, variables)
    return None if _nullish(a) or _nullish(b) else a / b


@operator("$mod")
def _mod(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    a, b = _args(args, doc, variables)
    return None if _nullish(a) or _nullish(b) else a % b


@operator("$max", "$min")
def _max_min_expr(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    raise EngineLimitation("$max/$min as expressions")


@operator("$arrayElemAt")
def _array_elem_at(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    array, index = _args(args, doc, variables)
    if _nullish(array):
        return None
    try:
        return array[index]
    except IndexError:
        return MISSING


@operator("$getField")
def _get_field(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    if isinstance(args, dict):
        field = evaluate(args["field"], doc, variables)
        source = evaluate(args.get("input", "$$CURRENT"), doc, variables)
    else:
        field, source = evaluate(args, doc, variables), doc
    return source.get(field, MISSING) if isinstance(source, dict) else MISSING


@operator("$let")
def _let(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    inner = {**variables, **{k: evaluate(v, doc, variables) for k, v in args["vars"].items()}}
    return evaluate(args["in"], doc, inner)


_UNITS = ("year", "quarter", "month", "week", "day", "hour", "minute", "second", "millisecond")


@operator("$dateTrunc")
def _date_trunc(args: Any, doc: Any, variables: dict[str, Any]) -> Any:
    value = evaluate(args["date"], doc, variables)
    unit = evaluate(args["unit"], doc, variables)
    zone = evaluate(args.get("timezone", "UTC"), doc, variables) or "UTC"
    if _nullish(value):
        return None
    if unit not in _UNITS or evaluate(args.get("binSize", 1), doc, variables) != 1:
        raise EngineLimitation(f"$dateTrunc unit {unit!r} / binSize")
    local = value.replace(tzinfo=UTC).astimezone(ZoneInfo(zone))
    if unit == "millisecond":
        local = local.replace(microsecond=local.microsecond // 1000 * 1000)
    else:
        local = local.replace(microsecond=0)
    if unit in ("minute", "hour", "day", "week", "month", "quarter", "year"):
        local = local.replace(second=0)
    if unit in ("hour", "day", "week", "month", "quarter", "year"):
        local = local.replace(minute=0)
    if unit in ("day", "week", "month", "quarter", "year"):
        local = local.replace(hour=0)
    if unit == "week":
        local -= timedelta(days=(local.weekday() + 1) % 7)  # weeks start on Sunday by default
    if unit in ("month", "quarter", "year"):
        local = local.replace(day=1)
    if unit == "quarter":
        local = local.replace(month=(local.month - 1) // 3 * 3 + 1)
    if unit == "year":
        local = local.replace(month=1)
    return local.astimezone(UTC).replace(tzinfo=None)


# --- pipelines -----------------------------------------------------------------------------------

Collections = dict[str, list[dict[str, Any]]]


def run_pipeline(
    docs: Iterable[dict[str, Any]],
    pipeline: list[dict[str, Any]],
    collections: Collections,
    variables: dict[str, Any] | None = None,
) -> list[dict[str, Any]]:
    current = [copy.deepcopy(doc) for doc in docs]
    variables = variables or {}
    for stage in pipeline:
        if len(stage) != 1:
            raise EngineLimitation(f"a stage must have exactly one key: {list(stage)}")
        ((name, spec),) = stage.items()
        handler = STAGES.get(name)
        if handler is None:
            raise EngineLimitation(f"pipeline stage {name}")
        current = handler(current, spec, collections, variables)
    return current


def _stage_match(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    return [doc for doc in docs if matches(doc, spec, variables)]


def _project_one(spec: dict[str, Any], doc: Any, root: dict[str, Any], variables: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in spec.items():
        if value is True or (isinstance(value, (int, float)) and not isinstance(value, bool) and value):
            found = get_path(doc, key) if isinstance(doc, dict) else MISSING
            if found is not MISSING:
                set_path(out, key, copy.deepcopy(found))
        elif value is False or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            continue
        elif isinstance(value, dict) and value and not any(k.startswith("$") for k in value):
            sub = doc.get(key, MISSING) if isinstance(doc, dict) else MISSING
            if isinstance(sub, list):
                out[key] = [_project_one(value, item, root, variables) for item in sub]
            else:
                out[key] = _project_one(value, sub if isinstance(sub, dict) else {}, root, variables)
        else:
            result = evaluate(value, root, variables)
            if result is not MISSING and result is not REMOVE:
                set_path(out, key, result)
    return out


def _stage_project(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    values = [v for k, v in spec.items() if k != "_id"]
    # {"_id": 0} alone excludes _id and keeps the rest, as any other exclusion does.
    values = values or [spec.get("_id", 1)]
    exclusion = all(v is False or (type(v) is int and v == 0) for v in values)
    out = []
    for doc in docs:
        if exclusion:
            projected = copy.deepcopy(doc)
            for key in spec:
                if spec[key] in (0, False):
                    unset_path(projected, key)
        else:
            projected = _project_one(spec, doc, doc, variables)
            if "_id" not in spec and "_id" in doc:
                projected = {"_id": doc["_id"], **projected}
            elif spec.get("_id") in (0, False):
                projected.pop("_id", None)
        out.append(projected)
    return out


def _stage_add_fields(
    docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]
) -> Any:
    out = []
    for doc in docs:
        new = copy.deepcopy(doc)
        for key, value in spec.items():
            result = evaluate(value, doc, variables)
            existing = get_path(new, key)
            if (
                isinstance(result, dict)
                and isinstance(existing, dict)
                and isinstance(value, dict)
                and not any(k.startswith("$") for k in value)
            ):
                existing.update(result)
            else:
                set_path(new, key, result)
        out.append(new)
    return out


def _stage_unset(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    fields = [spec] if isinstance(spec, str) else spec
    out = []
    for doc in docs:
        new = copy.deepcopy(doc)
        for field in fields:
            unset_path(new, field)
        out.append(new)
    return out


def _sort_key(spec: dict[str, Any]) -> Callable[[dict[str, Any], dict[str, Any]], int]:
    def cmp(a: dict[str, Any], b: dict[str, Any]) -> int:
        for key, direction in spec.items():
            va, vb = get_path(a, key), get_path(b, key)
            c = compare(None if va is MISSING else va, None if vb is MISSING else vb)
            if c:
                return c if direction == 1 else -c
        return 0

    return cmp


def _stage_sort(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    return sorted(docs, key=functools.cmp_to_key(_sort_key(spec)))


def _stage_skip(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    return docs[spec:]


def _stage_limit(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    return docs[:spec]


def _stage_count(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    return [{spec: len(docs)}] if docs else []


class _Accumulator:
    def __init__(self, op: str, expr: Any) -> None:
        self.op, self.expr = op, expr
        self.values: list[Any] = []

    def add(self, doc: dict[str, Any], variables: dict[str, Any]) -> None:
        self.values.append(evaluate(self.expr, doc, variables))

    def result(self) -> Any:
        present = [v for v in self.values if not _nullish(v)]
        if self.op == "$sum":
            return sum(v for v in present if _rank(v) == 2 and not isinstance(v, bool))
        if self.op == "$count":
            return len(self.values)
        if self.op == "$avg":
            numbers = [v for v in present if _rank(v) == 2 and not isinstance(v, bool)]
            return sum(numbers) / len(numbers) if numbers else None
        if self.op == "$min":
            return min(present, key=functools.cmp_to_key(compare)) if present else None
        if self.op == "$max":
            return max(present, key=functools.cmp_to_key(compare)) if present else None
        if self.op == "$first":
            return self.values[0] if self.values else None
        if self.op == "$last":
            return self.values[-1] if self.values else None
        if self.op == "$push":
            return [v for v in self.values if v is not MISSING]
        if self.op == "$addToSet":
            seen: dict[Any, Any] = {}
            for v in self.values:
                if v is not MISSING:
                    seen.setdefault(hashable(v), v)
            return list(seen.values())
        raise EngineLimitation(f"accumulator {self.op}")


def _stage_group(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    groups: dict[Any, tuple[Any, dict[str, _Accumulator]]] = {}
    for doc in docs:
        key = evaluate(spec["_id"], doc, variables)
        key = None if key is MISSING else key
        entry = groups.get(hashable(key))
        if entry is None:
            accumulators = {}
            for field, acc in spec.items():
                if field == "_id":
                    continue
                ((op, expr),) = acc.items()
                accumulators[field] = _Accumulator(op, expr)
            entry = groups[hashable(key)] = (key, accumulators)
        for acc in entry[1].values():
            acc.add(doc, variables)
    return [{"_id": key, **{f: a.result() for f, a in accs.items()}} for key, accs in groups.values()]


def _lookup_candidates(doc: dict[str, Any], spec: dict[str, Any], foreign: list[dict[str, Any]]) -> list[Any]:
    if "localField" not in spec:
        return foreign
    local = get_path(doc, spec["localField"])
    locals_ = local if isinstance(local, list) else [local]
    out = []
    for item in foreign:
        value = get_path(item, spec["foreignField"])
        values = value if isinstance(value, list) else [value]
        if any(
            (_nullish(lv) and _nullish(fv)) or (not _nullish(lv) and equal(lv, fv)) for lv in locals_ for fv in values
        ):
            out.append(item)
    return out


def _stage_lookup(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    foreign = collections.get(spec["from"], [])
    out = []
    for doc in docs:
        candidates = _lookup_candidates(doc, spec, foreign)
        inner = {**variables, **{k: evaluate(v, doc, variables) for k, v in spec.get("let", {}).items()}}
        joined = run_pipeline(candidates, spec.get("pipeline", []), collections, inner)
        new = copy.deepcopy(doc)
        set_path(new, spec["as"], joined)
        out.append(new)
    return out


def _stage_unwind(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    if isinstance(spec, str):
        spec = {"path": spec}
    path = spec["path"].removeprefix("$")
    preserve = spec.get("preserveNullAndEmptyArrays", False)
    if "includeArrayIndex" in spec:
        raise EngineLimitation("$unwind includeArrayIndex")
    out = []
    for doc in docs:
        value = get_path(doc, path)
        if isinstance(value, list) and value:
            for item in value:
                new = copy.deepcopy(doc)
                set_path(new, path, item)
                out.append(new)
        elif isinstance(value, list) or _nullish(value):
            if preserve:
                new = copy.deepcopy(doc)
                if isinstance(value, list):
                    unset_path(new, path)
                out.append(new)
        else:
            out.append(copy.deepcopy(doc))
    return out


def _stage_facet(docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]) -> Any:
    return [{name: run_pipeline(docs, pipeline, collections, variables) for name, pipeline in spec.items()}]


def _stage_replace_root(
    docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]
) -> Any:
    return [evaluate(spec["newRoot"], doc, variables) for doc in docs]


def _stage_replace_with(
    docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]
) -> Any:
    return [evaluate(spec, doc, variables) for doc in docs]


def _stage_union_with(
    docs: list[dict[str, Any]], spec: Any, collections: Collections, variables: dict[str, Any]
) -> Any:
    if isinstance(spec, str):
        spec = {"coll": spec}
    other = collections.get(spec.get("coll", ""), []) if spec.get("coll") else []
    return docs + run_pipeline(other, spec.get("pipeline", []), collections, variables)


STAGES: dict[str, Callable[[list[dict[str, Any]], Any, Collections, dict[str, Any]], list[dict[str, Any]]]] = {
    "$match": _stage_match,
    "$project": _stage_project,
    "$addFields": _stage_add_fields,
    "$set": _stage_add_fields,
    "$unset": _stage_unset,
    "$sort": _stage_sort,
    "$skip": _stage_skip,
    "$limit": _stage_limit,
    "$count": _stage_count,
    "$group": _stage_group,
    "$lookup": _stage_lookup,
    "$unwind": _stage_unwind,
    "$facet": _stage_facet,
    "$replaceRoot": _stage_replace_root,
    "$replaceWith": _stage_replace_with,
    "$unionWith": _stage_union_with,
}


# --- updates ---------------------------------------------------------------------------------------


def apply_update(doc: dict[str, Any], update: Any, collections: Collections) -> dict[str, Any]:
    """The document after an update: an aggregation pipeline (what the backend sends) or operators."""
    if isinstance(update, list):
        (new,) = run_pipeline([doc], update, collections)
        return new
    new = copy.deepcopy(doc)
    for op, fields in update.items():
        for path, value in fields.items():
            if op == "$set":
                set_path(new, path, copy.deepcopy(value))
            elif op == "$unset":
                unset_path(new, path)
            elif op == "$inc":
                current = get_path(new, path)
                set_path(new, path, (0 if current is MISSING else current) + value)
            elif op == "$rename":
                current = get_path(new, path)
                unset_path(new, path)
                if current is not MISSING:
                    set_path(new, value, current)
            else:
                raise EngineLimitation(f"update operator {op}")
    return new


def iter_documents(docs: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for doc in docs:
        yield copy.deepcopy(doc)
