"""What a user sets by hand for a while: an override of the state, a temporary limit of one
direction's budget; and the flap guard's limit on transitions."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence, Tuple

from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.state import StreamState

MAX_LABEL_CHARS = 80  # a label is shown on the page and in notifications: a few words


MAX_TEMPORARY_KIB = 10_000_000  # about 10 GB/s: above any line a home has, so a larger value is a mistake

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
class TemporaryLimit:
    """Hold the budget of `direction` at `limit` until `until` (epoch seconds, so it survives a
    restart), whatever the streams: "upload at 1000 KiB/s for 45 minutes, label: video call".

    It sets the total for the clients of that direction, not any client's limit: the plan still caps
    every share at the client's own limit, so a temporary limit never raises a client above what
    its user set. `label` is the user's words, shown and never interpreted."""

    direction: Direction
    limit: SpeedLimit
    until: float
    label: str = ""

    def __post_init__(self) -> None:
        if self.limit.unlimited:
            raise ValueError("a temporary limit is a limit: above 0 KiB/s")
        if len(self.label) > MAX_LABEL_CHARS:
            raise ValueError("a label is at most %d characters" % MAX_LABEL_CHARS)
        if not self.label.isprintable():  # it goes into log lines and notifications: no line breaks
            raise ValueError("a label must be printable text on one line")

    def active(self, now: float) -> bool:
        return now < self.until


TemporaryLimits = Mapping[Direction, TemporaryLimit]


def split_expired(limits: TemporaryLimits, now: float) -> Tuple[Dict[Direction, TemporaryLimit], Tuple[TemporaryLimit, ...]]:
    """(the limits still active at `now`, the ones that ended by then), each ending exactly at its `until`."""
    active = {d: t for d, t in limits.items() if t.active(now)}
    ended = tuple(t for d, t in sorted(limits.items(), key=lambda i: i[0].value) if d not in active)
    return active, ended


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
