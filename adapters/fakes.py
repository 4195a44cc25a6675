"""In-memory stand-ins for Plex and qBittorrent, used by tests and by `--demo`."""
from __future__ import annotations

import threading
from typing import Iterable, List, Sequence, Tuple, Union

from domain.policies import SpeedLimit
from domain.ports import FailureKind, StreamSourceError, UploadLimiterError
from domain.sessions import PlaybackSession

ScriptStep = Union[Sequence[PlaybackSession], StreamSourceError]


class ScriptedStreamSource:
    """Plays a list of observations in order (sessions, or an error to raise), then repeats the last."""

    def __init__(self, script: Iterable[ScriptStep]) -> None:
        self._script: List[ScriptStep] = list(script)
        if not self._script:
            self._script = [()]
        self._position = 0
        self._lock = threading.Lock()
        self.reads = 0

    def read_sessions(self) -> Tuple[PlaybackSession, ...]:
        with self._lock:
            step = self._script[min(self._position, len(self._script) - 1)]
            self._position += 1
            self.reads += 1
        if isinstance(step, StreamSourceError):
            raise step
        return tuple(step)


class RecordingUploadLimiter:
    """Holds an upload limit in memory and records every limit set, as qBittorrent would store it."""

    def __init__(self, initial_bytes_per_sec: int = 0) -> None:
        self.limit_bytes = initial_bytes_per_sec
        self.history: List[int] = []
        self.reads = 0
        self.failure: UploadLimiterError | None = None

    def fail_with(self, message: str = "qBittorrent not reachable (fake)", kind: FailureKind = FailureKind.UNREACHABLE) -> None:
        self.failure = UploadLimiterError(kind, message)

    def recover(self) -> None:
        self.failure = None

    def current_upload_limit(self) -> int:
        if self.failure is not None:
            raise self.failure
        self.reads += 1
        return self.limit_bytes

    def read_upload_limit(self) -> SpeedLimit:
        return SpeedLimit.from_bytes(self.current_upload_limit())

    def write_upload_limit(self, limit: SpeedLimit) -> None:
        self.set_upload_limit(limit.bytes_per_sec)

    def set_upload_limit(self, bytes_per_sec: int) -> None:
        if self.failure is not None:
            raise self.failure
        # qBittorrent keeps whole KiB with a 1 KiB minimum
        stored = 0 if bytes_per_sec <= 0 else max(1, bytes_per_sec // 1024) * 1024
        self.limit_bytes = stored
        self.history.append(stored)
