"""Bounded waits with the clock and the sleep passed in, so tests never sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Timing:
    """Where time comes from: the real clock by default, a fake one in tests."""

    clock: Clock = time.monotonic
    sleep: Sleep = time.sleep


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    timing: Timing,
    interval: float = 0.2,
) -> bool:
    """Call ``check`` until it returns True or ``timeout`` seconds pass; True if it did."""
    deadline = timing.clock() + timeout
    while True:
        if check():
            return True
        remaining = deadline - timing.clock()
        if remaining <= 0:
            return False
        timing.sleep(min(interval, remaining))
