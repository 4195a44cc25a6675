"""Holds logins back after a failure, so that no client ever bans us.

qBittorrent, Transmission's and Deluge's web front ends and NZBGet count failed logins per IP; a
daemon that retried a wrong password on every poll would lock the user out of their own Web UI.
"""
from __future__ import annotations

import math
import time
from typing import Callable, Optional


class LoginGate:
    """After a failed login, no new attempt for `retry_sec` (the clock is injected for tests)."""

    def __init__(self, retry_sec: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._retry_sec = retry_sec
        self._clock = clock
        self._held_until: Optional[float] = None
        self._reason = ""

    def held_back(self) -> Optional[str]:
        """None when a login may be sent now; else why not, e.g. 'the last login failed (wrong
        password); next attempt in 287 s'."""
        if self._held_until is None:
            return None
        now = self._clock()
        if now >= self._held_until:
            return None
        wait = max(1, math.ceil(self._held_until - now))
        return "the last login failed (%s); next attempt in %d s" % (self._reason, wait)

    def failed(self, reason: str) -> None:
        """A login was refused: hold the next one back. `reason` is short and secret-free."""
        self._held_until = self._clock() + self._retry_sec
        self._reason = reason

    def succeeded(self) -> None:
        self._held_until = None
        self._reason = ""
