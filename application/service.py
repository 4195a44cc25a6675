"""The use case. A tick reads the media servers, lets the domain decide (Throttle.step), splits the
budget over the download clients (allocate), keeps each client at its share through its LimitEnforcer
(adapters/clients/enforcers.py; the bookkeeping per client is application/client_slot.py) and returns what
happened as the domain's TickReport."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Sequence, Tuple

from application.client_slot import ClientSlot
from domain.limit_plan import Direction, LimitPlan, plan_limits
from domain.health import HealthBook
from domain.overrides import Override, TemporaryLimit
from domain.policies import SpeedLimit
from domain.ports import LimitEnforcer, StreamSource, StreamSourceError, DownloadClientError
from domain.schedule import LocalTime
from domain.state import MachineState, StreamState
from domain.throttle import Decision, ServerReading, Throttle, ThrottleRules
from domain.tick_report import ClientResult, TickReport

if TYPE_CHECKING:
    from application.line_tracker import LineTracker



def local_time_in(zone: Optional[tzinfo]) -> Callable[[float], LocalTime]:
    """Epoch seconds -> LocalTime in `zone` (None: the machine's zone, which follows TZ)."""
    return lambda wall: LocalTime.of(datetime.fromtimestamp(wall, zone) if zone else datetime.fromtimestamp(wall))


@dataclass(frozen=True)
class MediaServer:
    """A configured media server: its name (logs, /health, metrics) and its adapter."""

    name: str
    source: StreamSource


class ThrottleService:
    """Orchestrates one tick; the decision itself is the domain's (Throttle)."""

    def __init__(
        self,
        source: "StreamSource | Sequence[MediaServer]",
        enforcer: "LimitEnforcer | Sequence[ClientSlot]",
        decider: ThrottleRules,
        clock: Callable[[], float],
        dry_run: bool = False,
        reconcile_interval_sec: float = 60.0,
        wall_clock: Callable[[], float] = time.time,
        min_count_interval_sec: Optional[float] = None,
        local_time: Callable[[float], LocalTime] = local_time_in(None),
        download_budget: Optional[SpeedLimit] = None,
        rebalance: bool = False,
        line: Optional["LineTracker"] = None,
    ) -> None:
        # one server and one client (the flat config) may be given bare: they are named as its keys
        self.servers: List[MediaServer] = (
            list(source) if isinstance(source, (list, tuple)) else [MediaServer("plex", source)]  # type: ignore[arg-type]
        )
        self.clients: List[ClientSlot] = (
            list(enforcer) if isinstance(enforcer, (list, tuple)) else [ClientSlot("qbittorrent", enforcer)]  # type: ignore[arg-type]
        )
        if min_count_interval_sec is not None:
            decider = ThrottleRules(**{**decider.__dict__, "min_count_interval_sec": min_count_interval_sec})
        self.throttle = Throttle(decider)
        self._clock = clock
        self._wall_clock = wall_clock
        self._local_time = local_time  # epoch seconds -> the local time the schedule is written in
        self.download_budget = download_budget  # while streaming, for the download-only clients
        self.rebalance = rebalance  # share the upload budget by activity (read at the reconcile interval)
        self._rates: Dict[str, Optional[SpeedLimit]] = {}  # upload rates, read for `rebalance`
        self._rates_read: Optional[float] = None
        self.line = line  # the measured line (application/line_tracker.py): None, the fixed budgets alone
        self.dry_run = dry_run
        self.reconcile_interval_sec = reconcile_interval_sec
        self._override_lock = threading.Lock()  # the status server sets overrides from its threads
        self.health = HealthBook()  # one record per server and client, for everything that reports
        self._underway: Optional[Tuple[Decision, Tuple[ServerReading, ...], List[ClientResult], float]] = None

    # ---------------------------------------------------------------- the tick

    def tick(self, triggered: bool = False) -> TickReport:
        """Read the servers -> the domain decides -> split the budget and enforce per client -> report."""
        self._underway = None
        now = self._clock()
        servers = tuple(self._read(server) for server in self.servers)
        wall = self._wall_clock()
        local = self._local_time(wall) if self.throttle.rules.schedule else None
        with self._override_lock:
            decision = self.throttle.step(servers, now, wall, triggered, local)
        done: List[ClientResult] = []
        self._underway = (decision, servers, done, wall)
        clients = self._enforce(decision.limits_state, decision.budget, now, decision.idle_limit, done,
                                decision.download_budget)
        self._underway = None
        if any(c.error is not None for c in clients):
            self.throttle.forget_budget()  # what the client holds is unknown: no deadband next tick
        return self._report(decision, servers, clients, wall)

    def abandoned(self) -> Optional[TickReport]:
        """The report of a tick a stop cut short after the decision: the decision, and the clients it
        got to (the others unchecked). A state change already decided, or a limit already written,
        is then still logged. None when the tick had not decided yet."""
        if self._underway is None:
            return None
        decision, servers, done, wall = self._underway
        self._underway = None
        clients = tuple(done) + tuple(ClientResult(slot.name) for slot in self.clients[len(done):])  # in order
        return self._report(decision, servers, clients, wall)

    def _read(self, server: MediaServer) -> ServerReading:
        started = time.perf_counter()
        try:
            sessions = server.source.read_sessions()
        except StreamSourceError as err:
            return ServerReading(server.name, failure=str(err), error=err, latency_sec=time.perf_counter() - started)
        return ServerReading(server.name, sessions, latency_sec=time.perf_counter() - started)

    def _enforce(self, state: Optional[StreamState], budget: Optional[SpeedLimit], now: float,
                 idle_limit: Optional[SpeedLimit], done: List[ClientResult],
                 download_budget: Optional[SpeedLimit] = None) -> Tuple[ClientResult, ...]:
        """Read what the clients hold where due, let the domain plan every client's limit in each
        direction, put each in place; each result joins `done` as it comes (what a stop during the
        next client leaves behind)."""
        if budget is None or state is None:
            return tuple(ClientResult(slot.name) for slot in self.clients)
        streaming = state is StreamState.STREAMING
        if streaming and self.rebalance:
            self._read_rates(now)
        reads = [slot.refresh(state, now, self.reconcile_interval_sec, self.dry_run) for slot in self.clients]
        plan = self.plan(streaming, budget, idle_limit, download_budget)
        for slot, read in zip(self.clients, reads):
            done.append(read.failure if read.failure is not None else slot.enforce(state, plan, self.dry_run, read))
        return tuple(done)

    def plan(self, streaming: bool, budget: Optional[SpeedLimit] = None,
             idle_limit: Optional[SpeedLimit] = None, download_budget: Optional[SpeedLimit] = None) -> LimitPlan:
        """The domain's plan for every client and direction, from what the slots know now;
        `download_budget` is the decision's (a temporary limit), else the configured one applies."""
        budgets = {
            Direction.UPLOAD: budget,
            Direction.DOWNLOAD: download_budget if download_budget is not None else self.download_budget,
        }
        if self.line is not None:  # while streaming, what the measured line leaves for the clients
            remote = self._underway[0].remote if self._underway is not None else ()
            budgets = self.line.budgets(streaming, budgets, remote, self.clients)
        idle = idle_limit if idle_limit is not None else self.throttle.idle_limit
        upload = [e for slot in self.clients for d, e in slot.enforcers.items() if d is Direction.UPLOAD]
        idle_limits = {Direction.UPLOAD: None if all(e.own_idle for e in upload) else idle, Direction.DOWNLOAD: None}
        clients = [slot.planned(self._rates.get(slot.name)) for slot in self.clients]
        return plan_limits(streaming, budgets, idle_limits, clients, rebalance=self.rebalance and streaming)

    def _report(self, decision: Decision, servers: Tuple[ServerReading, ...], clients: Tuple[ClientResult, ...],
                wall: float) -> TickReport:
        """Every server's and client's health record stepped by this tick, with what the tick did."""
        health = tuple(self.health.update("server", s.name, True, s.error, s.latency_sec, wall) for s in servers)
        health += tuple(self.health.update("client", c.name, c.checked, c.error, c.latency_sec, wall) for c in clients)
        return TickReport(decision=decision, servers=servers, clients=clients, dry_run=self.dry_run, health=health)

    def _read_rates(self, now: float) -> None:
        """Each client's upload rate, at most once per reconcile interval: who uses its share."""
        if self._rates_read is not None and now - self._rates_read < max(self.reconcile_interval_sec, 1.0):
            return
        self._rates_read = now
        rates: Dict[str, Optional[SpeedLimit]] = {}
        for slot in self.clients:
            if slot.rates is None or Direction.UPLOAD not in slot.enforcers:
                continue
            try:
                rates[slot.name] = slot.rates.current_upload_rate()
            except DownloadClientError:
                rates[slot.name] = None  # unknown: counted as active, never starved
        self._rates = rates

    # ---------------------------------------------------------------- exit

    def restore_idle_limit(self) -> Optional[str]:
        """On exit: undo every throttle plex-helper may have put in place, client by client (one that
        fails does not stop the others). Says what was restored; raises DownloadClientError naming
        what could not be, after trying every client."""
        if self.dry_run:
            return None
        idle = self.idle_shares()
        named = len(self.clients) > 1
        done, failed = [], []
        for slot in self.clients:
            try:
                restored = slot.release({d: idle.get((slot.name, d)) for d in slot.enforcers})
            except DownloadClientError as err:
                failed.append(err)
                continue
            if restored is not None:
                done.append("%s: %s" % (slot.name, restored) if named else restored)
        if failed:
            message = "; ".join(str(err) for err in failed)
            if done:
                message += " (restored: %s)" % "; ".join(done)
            raise DownloadClientError(failed[0].kind, message)
        return "; ".join(done) or None

    # ---------------------------------------------------------------- state the other parts read

    @property
    def machine_state(self) -> MachineState:
        return self.throttle.state

    @property
    def decider(self) -> ThrottleRules:
        return self.throttle.rules

    @decider.setter
    def decider(self, rules: ThrottleRules) -> None:
        self.throttle.reconfigure(rules)

    @property
    def min_count_interval_sec(self) -> float:
        return self.throttle.rules.min_count_interval_sec

    @min_count_interval_sec.setter
    def min_count_interval_sec(self, value: float) -> None:
        self.throttle.reconfigure(ThrottleRules(**{**self.throttle.rules.__dict__, "min_count_interval_sec": value}))

    @property
    def override(self) -> Optional[Override]:
        return self.throttle.override

    def set_override(self, override: Optional[Override]) -> None:
        """Set or clear the override (from any thread)."""
        with self._override_lock:
            self.throttle.set_override(override)

    @property
    def temporary_limits(self) -> Dict[Direction, TemporaryLimit]:
        return dict(self.throttle.temporary)

    def set_temporary_limit(self, limit: TemporaryLimit) -> None:
        """Set one direction's temporary limit, replacing the one there (from any thread)."""
        with self._override_lock:
            self.throttle.set_temporary_limit(limit)

    def clear_temporary_limit(self, direction: Optional[Direction] = None) -> None:
        with self._override_lock:
            self.throttle.clear_temporary_limit(direction)

    @property
    def enforced_limit(self) -> Optional[SpeedLimit]:
        return self.clients[0].enforced_limit if self.clients else None

    def idle_shares(self) -> Dict[Tuple[str, Direction], Optional[SpeedLimit]]:
        """Each client's idle limit per direction: what it gets back when a throttle is undone
        (None: the user's own limit, put back as found)."""
        plan = self.plan(False)
        shares: Dict[Tuple[str, Direction], Optional[SpeedLimit]] = {}
        for slot in self.clients:
            for direction in slot.enforcers:
                target = plan.target(slot.name, direction)
                shares[(slot.name, direction)] = None if target is None or target.own else target.limit
        return shares

    def reconfigure(self, rules: ThrottleRules, reconcile_interval_sec: float,
                    servers: Optional[Sequence[MediaServer]] = None, clients: Optional[Sequence[ClientSlot]] = None) -> None:
        """A reload: new rules keep the state, the streaks and the override; new servers and clients
        (built, and handed over, by the reload) replace the old ones, whose limits are checked afresh."""
        self.throttle.reconfigure(rules)
        self.reconcile_interval_sec = reconcile_interval_sec
        if servers is not None:
            self.servers = list(servers)
        if clients is not None:
            self.clients = list(clients)
            self.throttle.forget_budget()
