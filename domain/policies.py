"""Upload limits and the policies that pick one for a state."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Protocol, Sequence, Tuple

from domain.sessions import PlaybackSession
from domain.state import StreamState


@dataclass(frozen=True, order=True)
class SpeedLimit:
    """A speed limit (upload or download) in KiB/s, the unit users configure; 0 means unlimited.

    qBittorrent stores limits in whole KiB (1..1024 bytes become 1 KiB, larger values are
    floored), so two limits are the same when their KiB values are.
    """

    kib_per_sec: int

    def __post_init__(self) -> None:
        if self.kib_per_sec < 0:
            raise ValueError("an upload limit cannot be negative")

    @property
    def unlimited(self) -> bool:
        return self.kib_per_sec == 0

    @property
    def bytes_per_sec(self) -> int:
        return self.kib_per_sec * 1024

    @classmethod
    def from_bytes(cls, bytes_per_sec: int) -> "SpeedLimit":
        if bytes_per_sec <= 0:
            return cls(0)
        return cls(max(1, bytes_per_sec // 1024))

    def __str__(self) -> str:
        return "unlimited" if self.unlimited else "%d KiB/s" % self.kib_per_sec




class LimitPolicy(Protocol):
    """Chooses the upload limit for a state. Must be pure: same inputs, same limit."""

    @property
    def idle_limit(self) -> SpeedLimit:
        """The limit that belongs to the idle state (what is restored on exit)."""
        ...

    def limit_for(self, state: StreamState, remote_sessions: Sequence[PlaybackSession]) -> SpeedLimit:
        ...


@dataclass(frozen=True)
class FixedLimitPolicy:
    """One limit while idle, another while streaming, whatever the streams."""

    idle: SpeedLimit
    streaming: SpeedLimit

    @property
    def idle_limit(self) -> SpeedLimit:
        return self.idle

    def limit_for(self, state: StreamState, remote_sessions: Sequence[PlaybackSession]) -> SpeedLimit:
        return self.streaming if state is StreamState.STREAMING else self.idle


@dataclass(frozen=True)
class StreamTier:
    """From `streams` remote streams on, the upload limit is `limit`."""

    streams: int
    limit: SpeedLimit


@dataclass(frozen=True)
class TieredLimitPolicy:
    """Less upload the more people stream: the tier with the largest `streams` not above the count.

    Below the smallest tier (hysteresis can hold the streaming state while the count is already
    0), the smallest tier applies.
    """

    idle: SpeedLimit
    tiers: Tuple[StreamTier, ...]

    def __post_init__(self) -> None:
        if not self.tiers:
            raise ValueError("at least one tier is needed")
        ordered = tuple(sorted(self.tiers, key=lambda t: t.streams))
        if len({t.streams for t in ordered}) != len(ordered):
            raise ValueError("two tiers name the same stream count")
        object.__setattr__(self, "tiers", ordered)

    @property
    def idle_limit(self) -> SpeedLimit:
        return self.idle

    def limit_for(self, state: StreamState, remote_sessions: Sequence[PlaybackSession]) -> SpeedLimit:
        if state is not StreamState.STREAMING:
            return self.idle
        count = len(remote_sessions)
        chosen = self.tiers[0]
        for tier in self.tiers:
            if tier.streams <= count:
                chosen = tier
        return chosen.limit


# kbit/s (Plex's unit) to KiB/s (the limit's unit)
KIB_PER_KBIT = 1000 / 8 / 1024
# Plex has been seen to report 10 Gbit/s for one session; no real stream needs more than this
MAX_SESSION_KBPS = 200_000


@dataclass(frozen=True)
class DynamicLimitPolicy:
    """While streaming: the line's capacity minus what the streams need, never below a floor.

    The floor is at least 1 KiB/s, so the limit is never 0, which qBittorrent reads as unlimited.
    Each session's bandwidth is clamped to `max_session_kbps` against absurd reports.
    """

    idle: SpeedLimit
    capacity_kib: int
    overhead_factor: float = 1.2
    floor_kib: int = 1
    max_session_kbps: int = MAX_SESSION_KBPS

    def __post_init__(self) -> None:
        if self.floor_kib < 1:
            raise ValueError("the floor must be at least 1 KiB/s")
        if self.capacity_kib < 1 or self.overhead_factor < 1:
            raise ValueError("capacity must be positive and the overhead factor at least 1")

    @property
    def idle_limit(self) -> SpeedLimit:
        return self.idle

    def streams_need_kib(self, remote_sessions: Sequence[PlaybackSession]) -> float:
        total_kbps = sum(min(max(s.bandwidth_kbps, 0), self.max_session_kbps) for s in remote_sessions)
        return total_kbps * KIB_PER_KBIT * self.overhead_factor

    def limit_for(self, state: StreamState, remote_sessions: Sequence[PlaybackSession]) -> SpeedLimit:
        if state is not StreamState.STREAMING:
            return self.idle
        left = self.capacity_kib - self.streams_need_kib(remote_sessions)
        return SpeedLimit(max(self.floor_kib, int(left)))


@dataclass(frozen=True)
class Deadband:
    """Whether a new limit is worth a write: only when it moves by more than `percent`.

    A caller may rely on: a change larger than the band is never held back; a change to or from
    unlimited always counts.
    """

    percent: float = 0.0

    def worth_applying(self, enforced: Optional[SpeedLimit], desired: SpeedLimit) -> bool:
        if enforced is None:
            return True
        if desired == enforced:
            return False
        if self.percent <= 0 or enforced.unlimited or desired.unlimited:
            return True
        return abs(desired.kib_per_sec - enforced.kib_per_sec) * 100 > enforced.kib_per_sec * self.percent
