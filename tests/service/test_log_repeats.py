"""RepeatCounter: one log line per key and interval, with the count of lines held back."""

from __future__ import annotations

from hostca.service.log_repeats import RepeatCounter


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_repeats_held_back_and_counted() -> None:
    clock = FakeClock()
    counter = RepeatCounter(interval_seconds=60, clock=clock)

    first = counter.admit("login_failed")
    repeats = [counter.admit("login_failed") for _ in range(4)]
    clock.now += 60
    after_interval = counter.admit("login_failed")

    assert first == 0
    assert repeats == [None] * 4
    assert after_interval == 4


def test_keys_counted_apart() -> None:
    counter = RepeatCounter(interval_seconds=60, clock=FakeClock())

    assert counter.admit(("login_failed", "127.0.0.1")) == 0
    assert counter.admit(("login_failed", "::1")) == 0
    assert counter.admit(("login_failed", "127.0.0.1")) is None


def test_key_count_is_bounded() -> None:
    clock = FakeClock()
    counter = RepeatCounter(interval_seconds=60, max_keys=3, clock=clock)

    for n in range(10):
        assert counter.admit(n) == 0

    assert len(counter._entries) <= 3
    assert counter.admit(9) is None
