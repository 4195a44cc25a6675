"""What one tick saw and did: a result per media server, the decision, a result per download client.

The use case's tick returns it; the run loop hands it to every observer (the log, /health, /metrics,
the notifications, the history adapter), which only read it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

from domain.health import SideHealth
from domain.limit_plan import Direction
from domain.overrides import Override
from domain.policies import SpeedLimit
from domain.ports import StreamSourceError, DownloadClientError
from domain.sessions import PlaybackSession
from domain.state import MachineState, StreamState
from domain.throttle import Decision, ServerReading


@dataclass(frozen=True)
class LimitResult:
    """One direction of one download client this tick."""

    direction: Direction
    target: Optional[SpeedLimit]  # the plan's limit (the user's own when `own`); None: unknown yet
    own: bool  # the user's own limit, left alone or put back
    held: Optional[SpeedLimit] = None  # what the client holds now, as far as known
    applied: Optional[SpeedLimit] = None  # written this tick (in a dry run: would have been)
    drifted_from: Optional[str] = None  # what it held when it was changed behind our back


@dataclass(frozen=True)
class ClientResult:
    """One download client this tick."""

    name: str
    target: Optional[SpeedLimit] = None  # its share of the budget; None while the state is unknown
    applied: Optional[SpeedLimit] = None  # written this tick (in a dry run: would have been)
    drifted_from: Optional[str] = None  # what it held when it was changed behind our back
    error: Optional[DownloadClientError] = None
    checked: bool = False  # the client was asked this tick
    latency_sec: Optional[float] = None
    limits: Tuple[LimitResult, ...] = ()  # each direction it is limited in (target/applied: the first)


@dataclass(frozen=True)
class TickReport:
    """The decision with what every side did. The single-value fields below the tuples describe the
    first server and client: the whole story when there is one of each, as with the flat config."""

    decision: Decision
    servers: Tuple[ServerReading, ...]
    clients: Tuple[ClientResult, ...]
    dry_run: bool = False
    health: Tuple[SideHealth, ...] = ()  # every server's and client's record after this tick

    # ---- the decision
    @property
    def before(self) -> MachineState:
        return self.decision.before

    @property
    def after(self) -> MachineState:
        return self.decision.after

    @property
    def state_changed(self) -> bool:
        return self.decision.state_changed

    @property
    def remote_sessions(self) -> Tuple[PlaybackSession, ...]:
        return self.decision.remote

    @property
    def desired(self) -> Optional[SpeedLimit]:
        return self.decision.desired

    @property
    def effective_state(self) -> Optional[StreamState]:
        return self.decision.effective

    @property
    def override(self) -> Optional[Override]:
        return self.decision.override

    @property
    def override_expired(self) -> Optional[Override]:
        return self.decision.override_expired

    @property
    def flap_held(self) -> bool:
        return self.decision.flap_held

    @property
    def counted(self) -> bool:
        return self.decision.counted

    # ---- the media servers
    @property
    def sessions(self) -> Tuple[PlaybackSession, ...]:
        """Every session of every server read (none when the servers gave no evidence)."""
        if self.decision.observation_failed:
            return ()
        return tuple(s for server in self.servers for s in server.sessions)

    @property
    def source_error(self) -> Optional[StreamSourceError]:
        return next((s.error for s in self.servers if s.error is not None), None)

    @property
    def read_latency_sec(self) -> Optional[float]:
        """The slowest server's read this tick."""
        latencies = [s.latency_sec for s in self.servers if s.latency_sec is not None]
        return max(latencies) if latencies else None

    # ---- the download clients
    @property
    def _first(self) -> ClientResult:
        return self.clients[0] if self.clients else ClientResult("")

    @property
    def applied(self) -> Optional[SpeedLimit]:
        return self._first.applied

    @property
    def drifted_from(self) -> Optional[str]:
        return self._first.drifted_from

    @property
    def limiter_error(self) -> Optional[DownloadClientError]:
        return next((c.error for c in self.clients if c.error is not None), None)

    @property
    def limiter_checked(self) -> bool:
        return any(c.checked for c in self.clients)
