"""A line meter stand-in whose counters grow at scripted rates on an injected clock.

    meter = ScriptedLineMeter(clock)
    meter.rates(upload_kib=500)      # from now on the line carries 500 KiB/s up
    meter.fail("router gone")        # the next readings raise LineMeterError

Deterministic where real traffic is not: the bytes between two readings are exactly the rate times
the clock's advance, so a test steps the daemon poll by poll without sleeping.
"""
from __future__ import annotations

import threading
from typing import Callable, Optional

from domain.line.counters import LineCounters
from domain.ports import FailureKind, LineMeterError


class ScriptedLineMeter:
    def __init__(self, clock: Callable[[], float], wrap_bits: int = 64) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._at = clock()
        self._sent = 0.0
        self._received = 0.0
        self._up = 0.0
        self._down = 0.0
        self._failure: Optional[str] = None
        self.wrap_bits = wrap_bits
        self.reads = 0

    def rates(self, upload_kib: float = 0.0, download_kib: float = 0.0) -> None:
        with self._lock:
            self._advance()
            self._up, self._down = upload_kib, download_kib

    def fail(self, reason: Optional[str]) -> None:
        """Readings raise LineMeterError(reason) until called with None."""
        self._failure = reason

    def read_counters(self) -> LineCounters:
        with self._lock:
            self.reads += 1
            self._advance()
            if self._failure is not None:
                raise LineMeterError(FailureKind.UNREACHABLE, self._failure)
            modulus = 2 ** self.wrap_bits
            return LineCounters(int(self._sent) % modulus, int(self._received) % modulus, self.wrap_bits, self.wrap_bits)

    def describe(self) -> str:
        return "scripted line meter"

    def close(self) -> None:
        pass

    def _advance(self) -> None:
        now = self._clock()
        elapsed, self._at = now - self._at, now
        self._sent += self._up * 1024 * elapsed
        self._received += self._down * 1024 * elapsed
