"""Sending runs to the workers (owned by the execution work).

Placeholder until the execution issue lands.
"""

from __future__ import annotations

from typing import Any


def send_run(run: Any) -> None:
    return None
