"""The MQL the project may send: stages and operators available in MongoDB 6.0 (the backend's minimum).

Every pipeline, filter and update the recorder sees is walked; a stage or
operator missing here fails the guard. Adding one is a review decision: check
that MongoDB 6.0 (Community, not only Atlas) has it, then add it with the
version that introduced it when that is later than 4.4. Atlas-only stages
(`$search`, `$searchMeta`, `$vectorSearch`, `$listSearchIndexes`) and
operators newer than 6.0 (`$median`, `$percentile` 7.0; `$bitAnd` 6.3;
`$toUUID` 8.0) are deliberately absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

STAGES = frozenset(
    {
        "$match",
        "$project",
        "$addFields",
        "$set",
        "$unset",
        "$sort",
        "$skip",
        "$limit",
        "$count",
        "$group",
        "$lookup",  # with `localField`/`foreignField` *and* `pipeline` together: 5.0
        "$unwind",
        "$facet",
        "$replaceRoot",
        "$replaceWith",
        "$unionWith",
        "$out",  # the last stage; only the data migration jobs 0002 sends it (jobs.execution.store.mongodb_migrations)
    }
)

QUERY_OPERATORS = frozenset(
    {
        "$and",
        "$or",
        "$nor",
        "$not",
        "$expr",
        "$eq",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$in",
        "$nin",
        "$exists",
        "$regex",
        "$options",
        "$type",
        "$size",
        "$all",
        "$elemMatch",
    }
)

EXPRESSION_OPERATORS = frozenset(
    {
        "$literal",
        "$eq",
        "$ne",
        "$gt",
        "$gte",
        "$lt",
        "$lte",
        "$cmp",
        "$and",
        "$or",
        "$not",
        "$in",
        "$cond",
        "$switch",
        "$ifNull",
        "$type",
        "$size",
        "$isArray",
        "$concat",
        "$toLower",
        "$toUpper",
        "$toString",
        "$regexMatch",
        "$add",
        "$subtract",
        "$multiply",
        "$divide",
        "$mod",
        "$arrayElemAt",
        "$getField",  # 5.0
        "$let",
        "$dateTrunc",  # 5.0
    }
)

ACCUMULATORS = frozenset({"$sum", "$count", "$avg", "$min", "$max", "$first", "$last", "$push", "$addToSet"})

# Classic (non-pipeline) update operators: the schema editor's `$rename`/`$unset` on field changes.
UPDATE_OPERATORS = frozenset({"$set", "$unset", "$rename", "$inc"})

SYSTEM_VARIABLES = frozenset({"ROOT", "CURRENT", "NOW", "REMOVE"})

# Database commands the recorder answers (`explain` is checked as the pipeline it explains).
COMMANDS = frozenset({"ping", "hello", "buildinfo", "buildInfo", "explain"})


def pipeline_violations(pipeline: Any, where: str = "pipeline") -> Iterator[str]:
    if not isinstance(pipeline, list):
        yield f"{where}: not a list of stages"
        return
    for index, stage in enumerate(pipeline):
        at = f"{where}[{index}]"
        if not isinstance(stage, dict) or len(stage) != 1:
            yield f"{at}: a stage must be a one-key document"
            continue
        ((name, spec),) = stage.items()
        if name not in STAGES:
            yield f"{at}: stage {name} is not in the MongoDB 6.0 allow-list"
            continue
        if name == "$match":
            yield from query_violations(spec, f"{at}.$match")
        elif name == "$lookup":
            yield from expression_violations(spec.get("let", {}), f"{at}.$lookup.let")
            yield from pipeline_violations(spec.get("pipeline", []), f"{at}.$lookup.pipeline")
        elif name == "$facet":
            for key, sub in spec.items():
                yield from pipeline_violations(sub, f"{at}.$facet.{key}")
        elif name == "$unionWith":
            if isinstance(spec, dict):
                yield from pipeline_violations(spec.get("pipeline", []), f"{at}.$unionWith.pipeline")
        elif name == "$group":
            for key, value in spec.items():
                if key == "_id":
                    yield from expression_violations(value, f"{at}.$group._id")
                    continue
                if not isinstance(value, dict) or len(value) != 1:
                    yield f"{at}.$group.{key}: an accumulator must be a one-key document"
                    continue
                ((acc, arg),) = value.items()
                if acc not in ACCUMULATORS:
                    yield f"{at}.$group.{key}: accumulator {acc} is not in the MongoDB 6.0 allow-list"
                yield from expression_violations(arg, f"{at}.$group.{key}.{acc}")
        elif name == "$out":
            if index != len(pipeline) - 1:
                yield f"{at}: $out must be the last stage"
        elif name in ("$sort", "$skip", "$limit", "$count", "$unset") or name == "$unwind":
            continue
        else:  # $project, $addFields, $set, $replaceRoot, $replaceWith
            yield from expression_violations(spec, f"{at}.{name}")


def query_violations(query: Any, where: str) -> Iterator[str]:
    if not isinstance(query, dict):
        yield f"{where}: a filter must be a document"
        return
    for key, value in query.items():
        at = f"{where}.{key}"
        if key in ("$and", "$or", "$nor"):
            for index, part in enumerate(value):
                yield from query_violations(part, f"{at}[{index}]")
        elif key == "$expr":
            yield from expression_violations(value, at)
        elif key.startswith("$"):
            yield f"{at}: top-level query operator {key} is not in the MongoDB 6.0 allow-list"
        elif isinstance(value, dict) and value and all(k.startswith("$") for k in value):
            yield from _field_operator_violations(value, at)


def _field_operator_violations(condition: dict[str, Any], where: str) -> Iterator[str]:
    for op, arg in condition.items():
        if op not in QUERY_OPERATORS:
            yield f"{where}: query operator {op} is not in the MongoDB 6.0 allow-list"
        elif op == "$not" and isinstance(arg, dict):
            yield from _field_operator_violations(arg, f"{where}.$not")
        elif op == "$elemMatch" and isinstance(arg, dict):
            yield from query_violations(arg, f"{where}.$elemMatch")


def expression_violations(expr: Any, where: str) -> Iterator[str]:
    if isinstance(expr, str):
        if expr.startswith("$$"):
            name = expr[2:].split(".", 1)[0]
            if name.isupper() and name not in SYSTEM_VARIABLES:
                yield f"{where}: system variable $${name} is not in the MongoDB 6.0 allow-list"
        return
    if isinstance(expr, list):
        for index, item in enumerate(expr):
            yield from expression_violations(item, f"{where}[{index}]")
        return
    if isinstance(expr, dict):
        for key, value in expr.items():
            if key.startswith("$"):
                if key not in EXPRESSION_OPERATORS and key not in ACCUMULATORS:
                    yield f"{where}: expression operator {key} is not in the MongoDB 6.0 allow-list"
                if key == "$literal":
                    continue  # data, not MQL
            yield from expression_violations(value, f"{where}.{key}")


def update_violations(update: Any, where: str = "update") -> Iterator[str]:
    if isinstance(update, list):
        yield from pipeline_violations(update, where)
        for index, stage in enumerate(update):
            for name in stage:
                if name not in ("$set", "$addFields", "$unset", "$project", "$replaceRoot", "$replaceWith"):
                    yield f"{where}[{index}]: {name} cannot be used in an update pipeline"
        return
    if not isinstance(update, dict):
        yield f"{where}: an update must be a document or a pipeline"
        return
    for op in update:
        if op not in UPDATE_OPERATORS:
            yield f"{where}: update operator {op} is not in the MongoDB 6.0 allow-list"
