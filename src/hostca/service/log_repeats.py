"""Count repeated log lines instead of printing each one.

A client that fails in a loop (a wrong password, a guessed token) would otherwise
fill the log with identical lines. Every rejection is still written to the audit
log, so only the log line is held back.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from dataclasses import dataclass

__all__ = ["RepeatCounter"]


@dataclass
class _Entry:
    logged_at: float
    held_back: int = 0


class RepeatCounter:
    """Let one log line per key through every ``interval_seconds``, and count the rest.

    NOTE: repeats held back after a key's last logged line are reported only when
    the key is logged again, so a burst that stops leaves its count unreported.
    """

    def __init__(
        self,
        interval_seconds: float = 60.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._interval = interval_seconds
        self._max_keys = max_keys
        self._clock = clock
        self._entries: dict[Hashable, _Entry] = {}
        # Sync routes run in a thread pool, so several threads log at once.
        self._lock = threading.Lock()

    def admit(self, key: Hashable) -> int | None:
        """Return how many lines of ``key`` were held back since its last logged line,
        or None when this line is to be held back too.
        """
        with self._lock:
            now = self._clock()
            entry = self._entries.get(key)
            if entry is not None and now - entry.logged_at < self._interval:
                entry.held_back += 1
                return None

            held_back = 0 if entry is None else entry.held_back
            self._entries[key] = _Entry(logged_at=now)
            if len(self._entries) > self._max_keys:
                self._forget_before(now - self._interval, keep=key)
            return held_back

    def _forget_before(self, cutoff: float, keep: Hashable) -> None:
        """Drop keys last logged before ``cutoff``, or every key but ``keep`` when none are."""
        expired = [key for key, entry in self._entries.items() if entry.logged_at < cutoff]
        if not expired:
            expired = [key for key in self._entries if key != keep]
        for key in expired:
            del self._entries[key]
