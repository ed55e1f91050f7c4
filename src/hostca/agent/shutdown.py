"""SIGTERM and SIGINT for the agent daemon: note the request and wake the sleeping loop.

The handler only records the signal. The daemon checks it between steps, so a
step that has started (a request, or writing the files it returned) finishes
first, and no file is left half written. Waiting uses ``select`` on the pipe of
``signal.set_wakeup_fd``, which a signal makes readable, so a long wait ends at
once.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
from collections.abc import Iterator
from types import FrameType

__all__ = ["StopRequest", "stop_on_signals"]

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


class StopRequest:
    """Whether SIGTERM or SIGINT arrived, and a wait that such a signal interrupts."""

    def __init__(self, wakeup_fd: int | None = None) -> None:
        self.signal_name: str | None = None
        self._wakeup_fd = wakeup_fd

    @property
    def requested(self) -> bool:
        return self.signal_name is not None

    def request(self, name: str) -> None:
        self.signal_name = name

    def wait(self, seconds: float) -> bool:
        """Sleep up to ``seconds``; return True when a stop was requested before or during it."""
        if self.requested or seconds <= 0:
            return self.requested
        if self._wakeup_fd is None:
            select.select([], [], [], seconds)
            return self.requested
        readable, _, _ = select.select([self._wakeup_fd], [], [], seconds)
        if readable:
            with contextlib.suppress(BlockingIOError):
                os.read(self._wakeup_fd, 512)
        return self.requested


@contextlib.contextmanager
def stop_on_signals() -> Iterator[StopRequest]:
    """Install the handlers for SIGTERM and SIGINT, and restore the previous ones at exit.

    Must run in the main thread, where Python runs signal handlers.
    """
    read_fd, write_fd = os.pipe()
    os.set_blocking(read_fd, False)
    os.set_blocking(write_fd, False)
    stop = StopRequest(read_fd)

    def handle(signum: int, _frame: FrameType | None) -> None:
        stop.request(signal.Signals(signum).name)

    previous_handlers = {number: signal.signal(number, handle) for number in _SIGNALS}
    previous_wakeup_fd = signal.set_wakeup_fd(write_fd, warn_on_full_buffer=False)
    try:
        yield stop
    finally:
        signal.set_wakeup_fd(previous_wakeup_fd)
        for number, handler in previous_handlers.items():
            signal.signal(number, handler)
        os.close(read_fd)
        os.close(write_fd)
