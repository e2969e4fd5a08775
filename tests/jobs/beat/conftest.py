"""What the beat tests share: a monotonic clock moved by hand (`clock`), for leases and partitions."""

from __future__ import annotations

import pytest


class Clock:
    """Each beat's monotonic clock, moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()
