"""The clock the tests hand to code that reads time: it moves only when a test moves it."""
from __future__ import annotations


class ManualClock:
    """Returns `now` when called. `advance()` moves it; a `step` moves it that much before each reading
    (for a loop that reads the clock once per turn)."""

    def __init__(self, start: float = 1000.0, step: float = 0.0) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
