"""Upload limits and the policies that pick one for a state."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from domain.sessions import PlaybackSession
from domain.state import StreamState


@dataclass(frozen=True, order=True)
class UploadLimit:
    """An upload limit in KiB/s, the unit users configure; 0 means unlimited.

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
    def from_bytes(cls, bytes_per_sec: int) -> "UploadLimit":
        if bytes_per_sec <= 0:
            return cls(0)
        return cls(max(1, bytes_per_sec // 1024))

    def __str__(self) -> str:
        return "unlimited" if self.unlimited else "%d KiB/s" % self.kib_per_sec


class LimitPolicy(Protocol):
    """Chooses the upload limit for a state. Must be pure: same inputs, same limit."""

    @property
    def idle_limit(self) -> UploadLimit:
        """The limit that belongs to the idle state (what is restored on exit)."""
        ...

    def limit_for(self, state: StreamState, remote_sessions: Sequence[PlaybackSession]) -> UploadLimit:
        ...


@dataclass(frozen=True)
class FixedLimitPolicy:
    """One limit while idle, another while streaming, whatever the streams."""

    idle: UploadLimit
    streaming: UploadLimit

    @property
    def idle_limit(self) -> UploadLimit:
        return self.idle

    def limit_for(self, state: StreamState, remote_sessions: Sequence[PlaybackSession]) -> UploadLimit:
        return self.streaming if state is StreamState.STREAMING else self.idle
