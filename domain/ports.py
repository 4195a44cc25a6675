"""Every port the use case depends on, and the errors their adapters raise."""
from __future__ import annotations

import enum
from typing import Protocol, Tuple, runtime_checkable

from domain.policies import SpeedLimit
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


# ---------------------------------------------------------------------------------- download clients
#
# One port per capability, so a client adapter implements what its client can do and the application
# discovers it (isinstance on these runtime-checkable protocols), never assumes it: a torrent client
# limits uploads, a Usenet client only downloads, and only some have an alternative ("turtle") mode.
# Limits are the domain's SpeedLimit (KiB/s, 0 = unlimited); converting to the client's own unit is
# the adapter's job, in one function per adapter, never turning a limit into the client's "unlimited".

SpeedLimiterError = UploadLimiterError  # one error type for every download client


@runtime_checkable
class ClientAdapter(Protocol):
    """What every download-client adapter offers besides its limits."""

    def describe(self) -> str:
        """One line for `--check`: the client's kind, version and how we got in (no secrets).
        Raises SpeedLimiterError."""
        ...

    def close(self) -> None:
        """Release connections. Never raises."""
        ...


@runtime_checkable
class UploadLimitControl(Protocol):
    """The client's global upload limit."""

    def read_upload_limit(self) -> SpeedLimit:
        """The limit in force now. Raises SpeedLimiterError."""
        ...

    def write_upload_limit(self, limit: SpeedLimit) -> None:
        """Set it (unlimited = SpeedLimit(0)). Raises SpeedLimiterError."""
        ...


@runtime_checkable
class DownloadLimitControl(Protocol):
    """The client's global download limit."""

    def read_download_limit(self) -> SpeedLimit:
        ...

    def write_download_limit(self, limit: SpeedLimit) -> None:
        ...


@runtime_checkable
class AlternativeSpeedMode(Protocol):
    """A second set of limits the client switches to (qBittorrent's and Transmission's turtle)."""

    def alternative_mode(self) -> bool:
        ...

    def set_alternative_mode(self, on: bool) -> None:
        ...

    def read_alternative_upload_limit(self) -> SpeedLimit:
        ...

    def write_alternative_upload_limit(self, limit: SpeedLimit) -> None:
        ...


@runtime_checkable
class TransferRates(Protocol):
    """What the client moves right now, for sharing a budget by activity (`rebalance`)."""

    def current_upload_rate(self) -> SpeedLimit:
        """The upload rate now, as a SpeedLimit value (KiB/s). Raises SpeedLimiterError."""
        ...
