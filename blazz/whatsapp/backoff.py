"""Capped exponential backoff with jitter, for reconnecting WhatsApp sessions."""

from __future__ import annotations

import random
from collections.abc import Callable


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
