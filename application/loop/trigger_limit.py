"""The rate limit on triggered observations: Plex events, webhooks and overrides asking for one sooner.

A burst within `debounce_sec` gives one observation, and requests while one is pending join it. On
top of that, at most one triggered observation a second (TRIGGER_MIN_GAP_SEC) and TRIGGERS_PER_INTERVAL
per poll interval, so a flood of events cannot turn into a flood of requests to Plex. The run loop
(application/loop/runner.py) asks when the pending request is due and serves it then.
"""
from __future__ import annotations

import collections
import logging
import math
import threading
from typing import Callable, Deque, Optional

from domain.ports import TriggerCounter

TRIGGER_MIN_GAP_SEC = 1.0  # at most one triggered observation a second...
TRIGGERS_PER_INTERVAL = 4  # ...and at most this many per poll interval
DEFAULT_DEBOUNCE_SEC = 0.25


def trigger_source(reason: str) -> str:
    """What asked for an observation, for the metrics: "webhook", "override" or "events" (the Plex
    event listener, which gives no reason)."""
    if reason.startswith("plex webhook"):
        return "webhook"
    if reason.startswith("override"):
        return "override"
    return "events"


class TriggerLimit:
    """The pending request for an observation and the triggered observations already made.
    `request()` is thread-safe and quick; the rest is for the run loop's thread."""

    def __init__(
        self,
        clock: Callable[[], float],
        logger: logging.Logger,
        metrics: Optional[TriggerCounter] = None,
    ) -> None:
        self.debounce_sec = DEFAULT_DEBOUNCE_SEC
        self._clock = clock
        self._logger = logger
        self._metrics = metrics
        self._lock = threading.Lock()
        self._pending = False
        self._requested_at = -math.inf  # when the pending request came (the debounce counts from it)
        self._served_at: Deque[float] = collections.deque(maxlen=TRIGGERS_PER_INTERVAL)  # triggered observations

    @property
    def pending(self) -> bool:
        """True while a request waits for an observation (read without the lock: a flag)."""
        return self._pending

    def request(self, reason: str = "") -> None:
        """One request for an observation; a request while one is pending joins it (coalesced)."""
        with self._lock:
            coalesced = self._pending
            if not coalesced:
                self._pending, self._requested_at = True, self._clock()
        if not coalesced:  # a flood is counted in the metrics, not logged line by line
            self._logger.debug("observation requested: %s", reason or "plex event")
        if self._metrics is not None:
            self._metrics.count_trigger(trigger_source(reason))
            if coalesced:
                self._metrics.count_trigger_coalesced()

    def due_at(self, interval_sec: float) -> float:
        """When the pending request may be served: after the debounce and within the rate limit."""
        return max(self._requested_at + self.debounce_sec, self._next_allowed(interval_sec))

    def _next_allowed(self, interval_sec: float) -> float:
        """When the next triggered observation may be made (the rate limit)."""
        if not self._served_at:
            return -math.inf
        allowed = self._served_at[-1] + TRIGGER_MIN_GAP_SEC
        if len(self._served_at) >= TRIGGERS_PER_INTERVAL:
            allowed = max(allowed, self._served_at[0] + interval_sec)
        return allowed

    def serve(self, now: float, by_poll: bool) -> None:
        """The observation about to be made answers the pending request (and counts against the limit)."""
        with self._lock:
            self._pending = False
        self._served_at.append(now)
        if by_poll and self._metrics is not None:  # it had no observation of its own
            self._metrics.count_trigger_coalesced()
