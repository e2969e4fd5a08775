"""The API's JSON parser: DRF's, with nesting bounded.

A body like `[[[[...]]]]` 100,000 levels deep made the standard library's
decoder raise RecursionError, which surfaced as a 500. Requests are bounded
in size by DATA_UPLOAD_MAX_MEMORY_SIZE (a 413, see `errors`) and in depth here
(a 400): no value the API takes needs more than MAX_JSON_DEPTH levels.
"""

from __future__ import annotations

from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32


def depth_exceeds(value: Any, limit: int) -> bool:
    """True if `value` nests lists/objects more than `limit` levels deep (iterative: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        current, depth = stack.pop()
        if isinstance(current, dict):
            children: Any = current.values()
        elif isinstance(current, list):
            children = current
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        too_deep = ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if depth_exceeds(data, MAX_JSON_DEPTH):
            raise too_deep
        return data
