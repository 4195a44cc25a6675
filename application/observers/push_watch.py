"""Each poll's playback handed to the media servers' push listeners, so a push channel that is up but
silent (a server that sends no session messages to it) is noticed; and the push channels' state for
/health and the page."""
from __future__ import annotations

import time
from typing import Any, Callable, Mapping, Optional

from domain.tick_report import TickReport


class PushWatch:
    """A TickObserver. `listeners`: the push listener of each server that has events on, by name."""

    def __init__(self, listeners: Mapping[str, Any], clock: Callable[[], float] = time.monotonic) -> None:
        self._listeners = dict(listeners)
        self._clock = clock

    def report(self, report: TickReport) -> None:
        now = self._clock()
        for server in report.servers:
            listener = self._listeners.get(server.name)
            if listener is None or not hasattr(listener, "note_poll") or server.error is not None:
                continue  # a failed read says nothing about playback
            listener.note_poll(any(s.state == "playing" for s in server.sessions), now)

    def describe(self, name: str) -> Optional[str]:
        """'push connected', 'push silent: polling only', ...; None for a server without push."""
        listener = self._listeners.get(name)
        describe = getattr(listener, "describe_health", None)
        return describe() if describe is not None else None
