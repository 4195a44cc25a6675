"""Every port the use case depends on, and the errors their adapters raise."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Protocol, Tuple, runtime_checkable

from domain.limit_plan import Direction
from domain.overrides import Override, TemporaryLimit, TemporaryLimits
from domain.line.counters import LineCounters
from domain.policies import SpeedLimit
from domain.sessions import PlaybackSession
from domain.state import StreamState


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


class DownloadClientError(PortError):
    """A download client could not be read or written: `str(error)` says which, where and why."""


class StreamSource(Protocol):
    """Where the current playback sessions come from."""

    def read_sessions(self) -> Tuple[PlaybackSession, ...]:
        """All sessions the server reports right now. Raises StreamSourceError, never anything else."""
        ...



# ---------------------------------------------------------------------------------- download clients
#
# One port per capability, so a client adapter implements what its client can do and the application
# discovers it (isinstance on these runtime-checkable protocols), never assumes it: a torrent client
# limits uploads, a Usenet client only downloads, and only some have an alternative ("turtle") mode.
# Limits are the domain's SpeedLimit (KiB/s, 0 = unlimited); converting to the client's own unit is
# the adapter's job, in one function per adapter, never turning a limit into the client's "unlimited".



@runtime_checkable
class ClientAdapter(Protocol):
    """What every download-client adapter offers besides its limits."""

    def describe(self) -> str:
        """One line for `--check`: the client's kind, version and how we got in (no secrets).
        Raises DownloadClientError."""
        ...

    def close(self) -> None:
        """Release connections. Never raises."""
        ...


@runtime_checkable
class UploadLimitControl(Protocol):
    """The client's global upload limit."""

    def read_upload_limit(self) -> SpeedLimit:
        """The limit in force now. Raises DownloadClientError."""
        ...

    def write_upload_limit(self, limit: SpeedLimit) -> None:
        """Set it (unlimited = SpeedLimit(0)). Raises DownloadClientError."""
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
    """What the client moves right now: for sharing a budget by activity (`rebalance`), and for
    telling its own traffic from other devices' on a measured line."""

    def current_upload_rate(self) -> SpeedLimit:
        """The upload rate now, as a SpeedLimit value (KiB/s). Raises DownloadClientError."""
        ...

    def current_download_rate(self) -> SpeedLimit:
        """The download rate now (KiB/s), what the line meter tells apart from other devices'
        traffic. Raises DownloadClientError."""
        ...


# ---------------------------------------------------------------------------------- one direction's limit

@dataclass(frozen=True)
class HeldLimit:
    """A limit as a client holds it: `limit` in the domain's terms (for the plan and the surfaces),
    and `native`, the value exactly as the client gave it (a JSON value: bytes for qBittorrent,
    Transmission's kB/s with its enabled flag, SABnzbd's percentage...). What plex-helper found is
    kept as `native` and written back as it was, never rounded through KiB/s."""

    limit: SpeedLimit
    native: Any


@runtime_checkable
class LimitControl(Protocol):
    """One direction of one client's global limit."""

    direction: Direction

    def read_limit(self) -> HeldLimit:
        """The limit in force now. Raises DownloadClientError."""
        ...

    def write_limit(self, limit: SpeedLimit) -> None:
        """Set a limit plex-helper chose (unlimited = SpeedLimit(0)). Raises DownloadClientError."""
        ...

    def restore_limit(self, native: Any) -> None:
        """Write back a limit exactly as `read_limit` found it (its `native`). Raises
        DownloadClientError, also for a `native` this client could not have given."""
        ...


# ---------------------------------------------------------------------------------- the application's

class UserFacingError(Exception):
    """An expected failure: `str(error)` is a complete sentence for the user, without any secret;
    the CLI prints it as one line, never a traceback."""



class StateMemory(Protocol):
    """A small dict kept across restarts (a JSON file under the state directory). `load` raises
    ValueError for a file that is there but unreadable; `save` warns rather than raises."""

    def load(self) -> Optional[Dict[str, Any]]: ...
    def save(self, data: Optional[Mapping[str, Any]]) -> object: ...


class OverrideMemory(Protocol):
    """The user's override and temporary limits, kept across restarts (files under the state
    directory). A damaged or ended entry loads as none, with a warning; `save*` raise OSError when
    the file cannot be written."""

    def load(self) -> Optional[Override]: ...
    def save(self, override: Optional[Override]) -> None: ...
    def load_temporary(self) -> Dict[Direction, TemporaryLimit]: ...
    def save_temporary(self, limits: TemporaryLimits) -> None: ...


class LimitEnforcer(Protocol):
    """Keeps one direction of one client at the limit the plan gives it, and remembers what it
    changed so it can be undone, also after a crash. Decides nothing. Methods raise
    DownloadClientError."""

    direction: Direction
    own_idle: bool  # idle is the user's own limit (else a configured idle limit)
    held: Optional[SpeedLimit]  # what the client holds, as far as known (read or written)

    @property
    def lowered(self) -> bool:
        """plex-helper holds the client below the user's own limit (also after a restart)."""
        ...

    def own_limit(self) -> Optional[SpeedLimit]:
        """The user's own limit as known (no I/O): what it held before plex-helper changed it."""
        ...

    def check(self) -> Optional[str]:
        """Read what the client holds; returns what it held when that is not what plex-helper wrote."""
        ...

    def put(self, limit: SpeedLimit, throttle: bool) -> None:
        """Write `limit`; a `throttle` is remembered first, with the user's own limit, to be undone."""
        ...

    def restore_own(self) -> Optional[SpeedLimit]:
        """Put the user's own limit back exactly as found; None when nothing was changed."""
        ...

    def release(self, idle: Optional[SpeedLimit]) -> Optional[str]:
        """On exit: undo a throttle (to `idle`, or None: the user's own); says what, or None."""
        ...

    def adopt(self, previous: object) -> None:
        """Take over what the enforcer this one replaces (on reload) had changed."""
        ...


class TickObserver(Protocol):
    def report(self, report: Any) -> None:
        """`report` is the TickReport (domain.tick_report) of one poll."""
        ...


class LifecycleNotifier(Protocol):
    """What the loop tells a service manager (systemd's sd_notify, or nothing)."""

    watchdog_interval_sec: Optional[float]

    def ready(self, status: str) -> None: ...
    def status(self, status: str) -> None: ...
    def watchdog(self) -> None: ...
    def reloading(self) -> None: ...
    def stopping(self) -> None: ...


class TriggerCounter(Protocol):
    """Where triggers are counted (the metrics registry)."""

    def count_trigger(self, source: str) -> None: ...
    def count_trigger_coalesced(self) -> None: ...


class StatusBackend(Protocol):
    """What the status server needs from the application. Every method is called from a server
    thread: it must be thread-safe and must not block on Plex or qBittorrent."""

    def health(self) -> Tuple[int, Dict[str, Any]]:
        """(200 or 503, a JSON-able dict)."""
        ...

    def metrics_text(self) -> str:
        """All metrics in Prometheus text format 0.0.4."""
        ...

    def trigger_observation(self, reason: str) -> None:
        """Ask the loop to observe now; returns at once."""
        ...

    def set_override(self, state: str, minutes: float) -> Dict[str, Any]:
        """Force `state` for `minutes`; raises ValueError with a message for the user on bad input,
        OSError (a complete sentence) when the override could not be saved to survive a restart."""
        ...

    def clear_override(self) -> Dict[str, Any]:
        ...

    def set_temporary_limit(self, direction: str, kib: Any, minutes: float, label: str = "") -> Dict[str, Any]:
        """Hold `direction`'s budget at `kib` (KiB/s, or text with a unit) for `minutes`; errors as
        for set_override."""
        ...

    def clear_temporary_limit(self, direction: Optional[str] = None) -> Dict[str, Any]:
        """End one direction's temporary limit (None: both) now."""
        ...

    def history(self, since: float, until: Optional[float], max_points: int) -> Dict[str, Any]:
        """What happened between `since` and `until` (epoch seconds), JSON-ready."""
        ...


# ---------------------------------------------------------------------------------- the line meter

class LineMeterError(PortError):
    """The line meter (a router's counters over UPnP or SNMP, or this host's interface) could not be
    read, or answered something that is not a counter."""


@runtime_checkable
class LineMeter(Protocol):
    """The byte counters of the line the remote streams leave through: what `domain.line.budget`
    measures the other devices' traffic with."""

    def read_counters(self) -> LineCounters:
        """The counters now (sent = upload, received = download). Raises LineMeterError, never
        anything else."""
        ...

    def describe(self) -> str:
        """One line for `--check` and the log: the router's name and model, or the agent's sysDescr
        and the interface chosen (no secrets). Raises LineMeterError."""
        ...

    def close(self) -> None:
        """Release sockets and connections. Never raises."""
        ...
