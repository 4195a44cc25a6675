"""In-memory stand-ins for Plex and qBittorrent, used by tests and by `--demo`."""
from __future__ import annotations

import threading
from typing import Any, Iterable, List, Sequence, Tuple, Union

from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, HeldLimit, StreamSourceError, DownloadClientError
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


def _stored(bytes_per_sec: int) -> int:
    """What qBittorrent keeps for a limit: whole KiB with a 1 KiB minimum; 0 or less = unlimited."""
    return 0 if bytes_per_sec <= 0 else max(1, bytes_per_sec // 1024) * 1024


class RecordingQBittorrent:
    """Holds an upload and a download limit in memory, as qBittorrent would store them, and records
    every limit set (`history` for uploads, `download_history` for downloads)."""

    def __init__(self, initial_bytes_per_sec: int = 0, initial_download_bytes_per_sec: int = 0) -> None:
        self.limit_bytes = initial_bytes_per_sec
        self.download_limit_bytes = initial_download_bytes_per_sec
        self.history: List[int] = []
        self.download_history: List[int] = []
        self.reads = 0
        self.failure: DownloadClientError | None = None

    def fail_with(self, message: str = "qBittorrent not reachable (fake)", kind: FailureKind = FailureKind.UNREACHABLE) -> None:
        self.failure = DownloadClientError(kind, message)

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
        self.limit_bytes = _stored(bytes_per_sec)
        self.history.append(self.limit_bytes)

    def current_download_limit(self) -> int:
        if self.failure is not None:
            raise self.failure
        self.reads += 1
        return self.download_limit_bytes

    def read_download_limit(self) -> SpeedLimit:
        return SpeedLimit.from_bytes(self.current_download_limit())

    def write_download_limit(self, limit: SpeedLimit) -> None:
        self.set_download_limit(limit.bytes_per_sec)

    def set_download_limit(self, bytes_per_sec: int) -> None:
        if self.failure is not None:
            raise self.failure
        self.download_limit_bytes = _stored(bytes_per_sec)
        self.download_history.append(self.download_limit_bytes)

    def limit_control(self, direction: Direction) -> "FakeLimit":
        return FakeLimit(self, direction)


class FakeLimit:
    """LimitControl of one direction of RecordingQBittorrent; native = the bytes held (an int)."""

    def __init__(self, fake: RecordingQBittorrent, direction: Direction) -> None:
        self.direction = direction
        self._fake = fake

    def read_limit(self) -> HeldLimit:
        if self.direction is Direction.UPLOAD:
            held = self._fake.current_upload_limit()
        else:
            held = self._fake.current_download_limit()
        return HeldLimit(SpeedLimit.from_bytes(held), held)

    def write_limit(self, limit: SpeedLimit) -> None:
        self._set(limit.bytes_per_sec)

    def restore_limit(self, native: Any) -> None:
        if isinstance(native, bool) or not isinstance(native, int) or native < 0:
            raise DownloadClientError(FailureKind.MALFORMED, "cannot restore the fake's limit from %r" % (native,))
        self._set(native)

    def _set(self, bytes_per_sec: int) -> None:
        if self.direction is Direction.UPLOAD:
            self._fake.set_upload_limit(bytes_per_sec)
        else:
            self._fake.set_download_limit(bytes_per_sec)
