"""Retry delays for the agent daemon: exponential, capped, with jitter.

Jitter spreads the retries of many hosts that lost the primary at the same
moment, so they do not all return in the same second when it is back.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

__all__ = ["Backoff"]

# 2**30 times any sensible initial delay is far beyond any cap, and stops the
# float from growing without bound after many failures.
_MAX_DOUBLINGS = 30


@dataclass(frozen=True)
class Backoff:
    """Delays in seconds that double from ``initial_seconds`` up to ``max_seconds``."""

    initial_seconds: float
    max_seconds: float

    def __post_init__(self) -> None:
        if not 0 < self.initial_seconds <= self.max_seconds:
            raise ValueError(
                f"initial_seconds={self.initial_seconds} and max_seconds={self.max_seconds}: "
                "the initial delay must be greater than 0 and at most the maximum."
            )

    def ceiling(self, attempt: int) -> float:
        """Return the longest delay before retry ``attempt`` (1 for the first retry)."""
        doublings = min(max(attempt, 1) - 1, _MAX_DOUBLINGS)
        return min(self.max_seconds, self.initial_seconds * 2.0**doublings)

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Return a delay between half the ceiling and the ceiling ("equal jitter")."""
        ceiling = self.ceiling(attempt)
        return ceiling / 2 + rng.uniform(0, ceiling / 2)
