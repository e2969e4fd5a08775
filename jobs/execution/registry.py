"""The registry of Python callables a `task` action may run.

    @register("echo")
    def echo(**kwargs): return kwargs

Tasks marked `system_only` (e.g. the run-history cleanup) can be scheduled by
staff only. A job naming an unknown or forbidden task is rejected at save time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RegisteredTask:
    name: str
    func: Callable[..., Any]
    system_only: bool
    description: str


_REGISTRY: dict[str, RegisteredTask] = {}


def register(
    name: str | None = None, *, system_only: bool = False
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        task_name = name or func.__name__
        doc = (func.__doc__ or "").strip().splitlines()
        _REGISTRY[task_name] = RegisteredTask(task_name, func, system_only, doc[0] if doc else "")
        return func

    return decorator


def get(name: str) -> RegisteredTask | None:
    return _REGISTRY.get(name)


def available(*, for_staff: bool) -> list[RegisteredTask]:
    return sorted(
        (task for task in _REGISTRY.values() if for_staff or not task.system_only),
        key=lambda task: task.name,
    )
