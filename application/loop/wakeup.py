"""What the run loop sleeps on between polls, and what wakes it: a stop or reload signal, a Plex
event, a webhook, an override.

Not a `threading.Event`: its set() takes a lock, and the signal handlers call set() in the main
thread, between two bytecodes of whatever the loop was doing; were the loop inside the event's own
locked section (clearing it, or entering a wait), set() would wait forever for a lock its own thread
holds. `queue.SimpleQueue.put` is reentrant (documented so, for signal handlers), and a wait on it
is one C call.
"""
from __future__ import annotations

import queue


class Wakeup:
    """A flag with a wait: set() wakes a wait() in progress or makes the next one return at once."""

    def __init__(self) -> None:
        self._tokens: "queue.SimpleQueue[None]" = queue.SimpleQueue()
        self._set = False

    def set(self) -> None:
        self._set = True
        self._tokens.put(None)

    def is_set(self) -> bool:
        return self._set

    def clear(self) -> None:
        """Forget the wake-ups so far; one that arrives while clearing still wakes the next wait."""
        self._set = False
        try:
            while True:
                self._tokens.get_nowait()
        except queue.Empty:
            pass  # a set() during the drain left the flag set: the next wait returns at once

    def wait(self, timeout: float) -> bool:
        """True when woken (or already set), False when `timeout` seconds passed first."""
        if self._set:
            return True
        try:
            self._tokens.get(timeout=max(timeout, 0.0))
        except queue.Empty:
            return self._set
        return True
