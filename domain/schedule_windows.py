"""Schedule windows: when each applies in local time, and what it makes of the limit policy.

Pure: no clock and no time zone in here (domain/schedule.py lists the promises a caller may rely
on). Reading and writing windows as text is domain/schedule_text.py.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime
from typing import Callable, Dict, FrozenSet, List, Optional, Sequence, Tuple

from domain.policies import FixedLimitPolicy, LimitPolicy, SpeedLimit
from domain.sessions import PlaybackSession
from domain.state import StreamState

MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY


@dataclass(frozen=True)
class LocalTime:
    """A moment on the local wall clock: the weekday (0 = Monday) and minutes since midnight."""

    weekday: int
    minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6 or not 0 <= self.minute < MINUTES_PER_DAY:
            raise ValueError("weekday must be 0..6 and minute 0..1439")

    @classmethod
    def of(cls, moment: datetime) -> "LocalTime":
        """The wall-clock fields of `moment` (naive, or aware in the zone it should be read in)."""
        return cls(moment.weekday(), moment.hour * 60 + moment.minute)

    @property
    def minute_of_week(self) -> int:
        return self.weekday * MINUTES_PER_DAY + self.minute


# ---- what a window may override: the config's field name -> how it changes a policy.
# Adding a field is one entry here (and, if it is no rate, its parser in parse_window,
# domain/schedule_text.py).

@dataclass(frozen=True)
class _IdleReplaced:
    """Any policy with another idle limit (the built-in ones are simply copied with a new `idle`)."""

    base: LimitPolicy
    idle: SpeedLimit

    @property
    def idle_limit(self) -> SpeedLimit:
        return self.idle

    def limit_for(self, state: StreamState, remote_sessions: Sequence[PlaybackSession]) -> SpeedLimit:
        return self.base.limit_for(state, remote_sessions) if state is StreamState.STREAMING else self.idle


def _with_idle(policy: LimitPolicy, limit: SpeedLimit) -> LimitPolicy:
    if is_dataclass(policy) and "idle" in {f.name for f in fields(policy)}:
        return replace(policy, idle=limit)  # type: ignore[type-var]
    return _IdleReplaced(policy, limit)


def _with_streaming(policy: LimitPolicy, limit: SpeedLimit) -> LimitPolicy:
    # a window's streaming limit is a fixed one, whatever limit_policy says (tiers, dynamic)
    return FixedLimitPolicy(policy.idle_limit, limit)


POLICY_FIELDS: Dict[str, Callable[[LimitPolicy, SpeedLimit], LimitPolicy]] = {
    "streaming_upload_kbps": _with_streaming,
    "idle_upload_kbps": _with_idle,
}


@dataclass(frozen=True)
class Window:
    """From `start` to `end` (minutes since midnight; `end` may be 1440 for "24:00") on each of
    `days` (0 = Monday), crossing midnight when `end` is not after `start`. Inside it, `throttle`
    False means no throttle at all; otherwise `overrides` (config field -> KiB/s) replace the
    policy's fields."""

    days: FrozenSet[int]
    start: int
    end: int
    throttle: bool = True
    overrides: Tuple[Tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.days or not all(0 <= d <= 6 for d in self.days):
            raise ValueError("days must name at least one of 0..6")
        if not 0 <= self.start < MINUTES_PER_DAY or not 0 <= self.end <= MINUTES_PER_DAY:
            raise ValueError("start must be 0..1439 and end 0..1440")
        if self.length == 0:
            raise ValueError("the window is empty")
        unknown = [name for name, _ in self.overrides if name not in POLICY_FIELDS]
        if unknown:
            raise ValueError("cannot override %s" % ", ".join(unknown))
        object.__setattr__(self, "days", frozenset(self.days))
        object.__setattr__(self, "overrides", tuple(sorted(self.overrides)))

    @property
    def length(self) -> int:
        """Minutes the window lasts (24:00 after 00:00 is a whole day)."""
        if self.start == 0 and self.end == MINUTES_PER_DAY:
            return MINUTES_PER_DAY
        return (self.end - self.start) % MINUTES_PER_DAY

    @property
    def crosses_midnight(self) -> bool:
        return self.start + self.length > MINUTES_PER_DAY

    def spans(self) -> List[Tuple[int, int]]:
        """The half-open intervals of the week (minutes from Monday 00:00) the window covers."""
        out: List[Tuple[int, int]] = []
        for day in sorted(self.days):
            a = day * MINUTES_PER_DAY + self.start
            b = a + self.length
            if b <= MINUTES_PER_WEEK:
                out.append((a, b))
            else:  # Sunday night into Monday morning
                out.extend([(a, MINUTES_PER_WEEK), (0, b - MINUTES_PER_WEEK)])
        return out

    def applies_at(self, local: LocalTime) -> bool:
        m = local.minute_of_week
        return any(day_offset < self.length for day_offset in
                   ((m - (d * MINUTES_PER_DAY + self.start)) % MINUTES_PER_WEEK for d in self.days))

    def override(self, name: str) -> Optional[int]:
        return dict(self.overrides).get(name)


def window_at(windows: Sequence[Window], local: LocalTime) -> Optional[Window]:
    """The window in force at `local`, or None (then the policy is exactly the configured one).
    With overlapping windows (which parse_schedule refuses) the first listed wins."""
    for window in windows:
        if window.applies_at(local):
            return window
    return None


def find_overlap(windows: Sequence[Window]) -> Optional[Tuple[int, int]]:
    """The indexes (i < j) of the first two windows that share a minute of the week, or None."""
    spans = [w.spans() for w in windows]
    for i in range(len(windows)):
        for j in range(i + 1, len(windows)):
            if any(a < d and c < b for a, b in spans[i] for c, d in spans[j]):
                return i, j
    return None


def policy_in_window(policy: LimitPolicy, window: Optional[Window]) -> LimitPolicy:
    """The policy that applies inside `window`: `policy` itself outside every window; idle's limit
    in every state where the window says `throttle: false`; else `policy` with the window's fields."""
    if window is None:
        return policy
    for name, kib in window.overrides:
        policy = POLICY_FIELDS[name](policy, SpeedLimit(kib))
    if not window.throttle:
        idle = policy.idle_limit
        return FixedLimitPolicy(idle, idle)
    return policy


__all__ = [
    "MINUTES_PER_DAY", "MINUTES_PER_WEEK", "POLICY_FIELDS", "LocalTime", "Window", "find_overlap", "policy_in_window",
    "window_at",
]
