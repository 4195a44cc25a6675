"""The two ports the use case depends on, and the errors their adapters raise."""
from __future__ import annotations

import enum
from typing import Protocol, Tuple

from domain.sessions import PlaybackSession


class FailureKind(enum.Enum):
    """Why a side could not be read or written, in the terms a user can act on."""

    UNREACHABLE = "unreachable"  # connection refused, timeout, DNS, TLS, 5xx
    REJECTED = "rejected"  # credentials refused, banned, login held back
    MALFORMED = "malformed"  # the server answered something we cannot understand


class PortError(Exception):
    """Base of the port errors: `str(error)` is a complete, secret-free sentence for the log."""

    def __init__(self, kind: FailureKind, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class StreamSourceError(PortError):
    """The stream source (Plex) could not be read."""


class UploadLimiterError(PortError):
    """The upload limiter (qBittorrent) could not be read or written."""


class StreamSource(Protocol):
    """Where the current playback sessions come from."""

    def read_sessions(self) -> Tuple[PlaybackSession, ...]:
        """All sessions the server reports right now. Raises StreamSourceError, never anything else."""
        ...


class UploadLimiter(Protocol):
    """The global upload limit of the torrent client, in bytes per second (0 = unlimited)."""

    def current_upload_limit(self) -> int:
        """The limit in force now. Raises UploadLimiterError."""
        ...

    def set_upload_limit(self, bytes_per_sec: int) -> None:
        """Set the limit (0 = unlimited). Raises UploadLimiterError."""
        ...
