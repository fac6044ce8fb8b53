"""When to try again: capped exponential backoff with jitter, and timers that keep wall-clock time."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from typing import Any

WALL_CHECK_S = 60.0  # how often a WallTimer re-reads the clock; a laptop's sleep delays it by at most this much


class Backoff:
    """Delays of base, 2·base, 4·base … up to `cap`, each spread by ±`jitter` so sessions don't retry in step.

    `next()` returns the delay for the next attempt and counts it; `reset()` starts over after a healthy link.
    """

    def __init__(self, base: float = 2.0, cap: float = 300.0, *, jitter: float = 0.2,
                 rng: Callable[[], float] = random.random):
        if base <= 0 or cap < base or not 0 <= jitter < 1:
            raise ValueError("backoff needs 0 < base <= cap and 0 <= jitter < 1")
        self.base = base
        self.cap = cap
        self.jitter = jitter
        self.attempts = 0
        self._rng = rng

    def peek(self) -> float:
        """The delay before jitter that `next()` would start from."""
        # Exponent clamped so that thousands of failures don't overflow a float.
        return min(self.cap, self.base * 2 ** min(self.attempts, 64))

    def next(self) -> float:
        delay = self.peek() * (1 + self.jitter * (2 * self._rng() - 1))
        self.attempts += 1
        return min(self.cap, max(0.0, delay))

    def reset(self) -> None:
        self.attempts = 0


class WallTimer:
    """Calls `callback` (on the running loop) at a wall-clock time, re-checking every minute: monotonic timers
    stop while a laptop sleeps, so a ban that ends during the night would otherwise be noticed hours late."""

    def __init__(self, when: float, callback: Callable[[], Any]):
        self.when = when
        self._callback = callback
        self._loop = asyncio.get_running_loop()
        self._handle: asyncio.Handle | None = None
        self._arm()

    def _arm(self) -> None:
        delay = self.when - time.time()
        if delay <= 0:
            self._handle = self._loop.call_soon(self._callback)
        else:
            self._handle = self._loop.call_later(min(delay, WALL_CHECK_S), self._arm)

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
