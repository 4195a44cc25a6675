"""A user's manual override of the state, and the flap guard's limit on transitions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

from domain.state import StreamState


@dataclass(frozen=True)
class Override:
    """Force `state` until `until` (wall-clock seconds since the epoch, so it survives a restart)."""

    state: StreamState
    until: float

    def active(self, now: float) -> bool:
        return now < self.until

    def remaining_sec(self, now: float) -> float:
        return max(0.0, self.until - now)


def effective_state(machine_state: Optional[StreamState], override: Optional[Override], now: float) -> Optional[StreamState]:
    """The state whose limit applies: an active override wins over what the machine decided."""
    if override is not None and override.active(now):
        return override.state
    return machine_state


@dataclass(frozen=True)
class FlapGuard:
    """At most `max_per_hour` transitions in any hour (0 = no limit). Beyond it, stay throttled:
    switching to streaming is always allowed, switching back to idle is held."""

    max_per_hour: int = 0
    window_sec: float = 3600.0

    def holds(self, to_state: StreamState, transition_times: Sequence[float], now: float) -> bool:
        if self.max_per_hour <= 0 or to_state is not StreamState.IDLE:
            return False
        recent = sum(1 for t in transition_times if now - t < self.window_sec)
        return recent >= self.max_per_hour
