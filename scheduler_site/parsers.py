"""The API's JSON parser: DRF's, with nesting bounded and text that can be stored.

A body like `[[[[...]]]]` 100,000 levels deep made the standard library's
decoder raise RecursionError, which surfaced as a 500. Requests are bounded
in size by DATA_UPLOAD_MAX_MEMORY_SIZE (a 413, see `errors`) and in depth here
(a 400): no value the API takes needs more than MAX_JSON_DEPTH levels.

JSON may spell characters no database stores as text: NUL (`\u0000`, which
PostgreSQL refuses) and lone UTF-16 surrogates (`\ud800`, which are not
Unicode and cannot be encoded as UTF-8). Either, in any key or string value,
is a 400 here rather than a 500 at the first write or render. So is a number
past a float's range (`1e400`), which Python reads as infinity: JSON cannot
spell it back.
"""

from __future__ import annotations

import math
import re
from typing import Any

from rest_framework import parsers
from rest_framework.exceptions import ParseError

MAX_JSON_DEPTH = 32


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


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


def unstorable(value: Any) -> str | None:
    """Why `value` cannot be stored, or None: a key or string with NUL or a lone surrogate,
    or a number too large for a float (iterative: no recursion limit)."""
    stack = [value]
    while stack:
        current = stack.pop()
        if isinstance(current, str):
            if _UNSTORABLE.search(current):
                return "text may not contain NUL characters (\\u0000) or unpaired surrogates (\\ud800)"
        elif isinstance(current, float):
            if not math.isfinite(current):
                return "a number is not finite (NaN, Infinity, or too large)"
        elif isinstance(current, dict):
            stack.extend(current.keys())
            stack.extend(current.values())
        elif isinstance(current, list):
            stack.extend(current)
    return None


class JSONParser(parsers.JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: dict[str, Any] | None = None) -> Any:
        too_deep = ParseError(f"JSON parse error - nested more than {MAX_JSON_DEPTH} levels deep.")
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise too_deep from None
        if depth_exceeds(data, MAX_JSON_DEPTH):
            raise too_deep
        problem = unstorable(data)
        if problem is not None:
            raise ParseError(f"JSON parse error - {problem}.")
        return data
