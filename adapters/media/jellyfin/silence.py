"""Telling a push channel that is up but says nothing (for adapters/media/jellyfin/events.py).

Jellyfin 10.10 sends no Sessions messages to a socket opened with an API key (upstream:
jellyfin/jellyfin#13479), although it accepts the subscription and answers keep-alives. Only the
polls can show it: they see playback the channel never announced. A working server sends a Sessions
message at once after SessionsStart ("0,...": no initial delay) and on every change, so polled
playback after a few keep-alive periods without one is the sign.
"""
from __future__ import annotations

import threading
from typing import Optional

SILENT_AFTER_KEEPALIVES = 3


class SilenceWatch:
    """The push channel's side of the question, fed by the listener's thread, asked by the polls'.
    Times are on one clock, given by the callers. Thread-safe."""

    def __init__(self, keepalive_sec: float) -> None:
        self._lock = threading.Lock()
        self._default_keepalive = keepalive_sec
        self._keepalive_sec = keepalive_sec
        self._subscribed_at: Optional[float] = None  # None: no subscribed connection now
        self._heard = False
        self._silent = False
        self._warned = False

    def subscribed(self, now: float) -> None:
        """A connection subscribed at `now`: it has heard nothing yet."""
        with self._lock:
            self._subscribed_at, self._heard, self._keepalive_sec = now, False, self._default_keepalive

    def disconnected(self) -> None:
        with self._lock:
            self._subscribed_at = None

    def keepalive_is(self, period_sec: float) -> None:
        """The keep-alive period this connection runs at (the server's ForceKeepAlive may set it)."""
        with self._lock:
            self._keepalive_sec = period_sec

    def heard_sessions(self) -> bool:
        """A Sessions message came: the channel speaks. True when it had been silent until now."""
        with self._lock:
            was_silent = self._silent
            self._heard, self._silent = True, False
        return was_silent

    def poll_saw(self, playing: bool, now: float) -> Optional[float]:
        """What a poll saw at `now`. Returns how long the channel has been quiet when this poll makes
        it silent for the first time in the watch's life (the one time worth a warning), else None."""
        with self._lock:
            if not playing or self._heard or self._subscribed_at is None:
                return None
            quiet_for = now - self._subscribed_at
            if quiet_for < SILENT_AFTER_KEEPALIVES * self._keepalive_sec:
                return None
            self._silent = True
            first, self._warned = not self._warned, True
        return quiet_for if first else None

    @property
    def silent(self) -> bool:
        """True from a poll that saw unannounced playback (see poll_saw) until a Sessions message."""
        with self._lock:
            return self._silent
