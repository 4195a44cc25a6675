"""The use case: one tick observes Plex, steps the state machine and enforces the upload limit."""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable, Deque, Optional, Tuple

from application.enforcers import LimitEnforcer
from domain.overrides import FlapGuard, Override, effective_state
from domain.policies import Deadband, LimitPolicy, UploadLimit
from domain.ports import StreamSource, StreamSourceError, UploadLimiterError
from domain.sessions import Observation, PlaybackSession, RemoteStreamRule
from domain.state import MachineState, StreamingStateMachine, StreamState, TransitionReason


@dataclass(frozen=True)
class TickReport:
    """What one tick saw and did."""

    observation: Observation
    remote_sessions: Tuple[PlaybackSession, ...]
    before: MachineState
    after: MachineState
    desired: Optional[UploadLimit]  # None while the state is still unknown
    applied: Optional[UploadLimit] = None  # written this tick (in a dry run: would have been)
    drifted_from: Optional[str] = None  # what qBittorrent held when it was changed behind our back
    source_error: Optional[StreamSourceError] = None
    limiter_error: Optional[UploadLimiterError] = None
    limiter_checked: bool = False  # qBittorrent was asked this tick
    dry_run: bool = False
    effective_state: Optional[StreamState] = None  # the state whose limit applies (an override wins)
    override: Optional[Override] = None  # active this tick
    override_expired: Optional[Override] = None  # ended this tick
    flap_held: bool = False  # the flap guard kept the throttle on instead of going idle
    plex_latency_sec: Optional[float] = None
    qbittorrent_latency_sec: Optional[float] = None
    counted: bool = True  # False for a triggered observation too soon to advance the hysteresis

    @property
    def state_changed(self) -> bool:
        return self.before.state is not self.after.state



@dataclass(frozen=True)
class Decider:
    """The pure part of a tick: the rule, the state machine and the policy, swappable as one on reload."""

    rule: RemoteStreamRule
    machine: StreamingStateMachine
    policy: LimitPolicy
    deadband: Deadband = Deadband()
    flap_guard: FlapGuard = FlapGuard()


class ThrottleService:
    """Keeps qBittorrent's upload limit at the policy's limit for the current state.

    Writes only when the desired limit differs from what qBittorrent holds (every write is a
    config write there); reads the limit back every `reconcile_interval_sec` to undo changes
    made behind its back.
    """

    def __init__(
        self,
        source: StreamSource,
        enforcer: LimitEnforcer,
        decider: Decider,
        clock: Callable[[], float],
        dry_run: bool = False,
        reconcile_interval_sec: float = 60.0,
        wall_clock: Callable[[], float] = time.time,
        min_count_interval_sec: float = 0.0,
    ) -> None:
        self._source = source
        self._enforcer = enforcer
        self.decider = decider
        self._clock = clock
        self.dry_run = dry_run
        self.reconcile_interval_sec = reconcile_interval_sec
        self.machine_state = MachineState()
        self._remote: Tuple[PlaybackSession, ...] = ()
        # what qBittorrent holds, as far as we know, and for which state
        self._enforced: Optional[Tuple[StreamState, UploadLimit]] = None
        self._last_check: Optional[float] = None
        self.min_count_interval_sec = min_count_interval_sec  # half the poll interval
        self._last_counted: Optional[float] = None
        self._counted = True
        self._wall_clock = wall_clock
        self.override: Optional[Override] = None  # set from other threads through set_override
        self._override_lock = threading.Lock()
        self._transition_times: Deque[float] = collections.deque(maxlen=1000)
        self._effective: Optional[StreamState] = None

    @property
    def enforcer(self) -> LimitEnforcer:
        return self._enforcer

    def replace_adapters(self, source: StreamSource, enforcer: LimitEnforcer) -> None:
        """New connection settings: keep the state, but check qBittorrent's limit afresh."""
        self._source = source
        self._enforcer = enforcer
        self._enforced = None

    @property
    def enforced_limit(self) -> Optional[UploadLimit]:
        return self._enforced[1] if self._enforced else None

    def _observe(self, before: MachineState, remote_streams: int, now: float, triggered: bool) -> MachineState:
        """Hysteresis counts polls. An observation that an event or webhook triggered sooner than half
        a poll interval after the last counted one does not advance a streak (bursts of events must
        not make it sloppier), but it still resets one, and decides where one observation is enough:
        the first, or a threshold of 1."""
        machine = self.decider.machine
        if triggered and before.state is not None and self._last_counted is not None:
            needed = (
                machine.hysteresis.streaming_threshold
                if before.state is StreamState.IDLE
                else machine.hysteresis.idle_threshold
            )
            if now - self._last_counted < self.min_count_interval_sec and needed > 1:
                agrees = (remote_streams > 0) == (before.state is StreamState.STREAMING)
                self._counted = False
                return replace(before, contrary_streak=0 if agrees else before.contrary_streak, failing_since=None)
        self._last_counted = now
        return machine.observe(before, remote_streams)

    def tick(self, triggered: bool = False) -> TickReport:
        now = self._clock()
        before = self.machine_state
        source_error = None
        self._counted = True
        started = time.perf_counter()
        try:
            sessions = self._source.read_sessions()
        except StreamSourceError as err:
            source_error = err
            observation = Observation.failed(str(err))
            after = self.decider.machine.fail(before, now)
        else:
            observation = Observation.of(sessions)
            self._remote = self.decider.rule.remote_sessions(sessions)
            after = self._observe(before, len(self._remote), now, triggered)
        plex_latency = time.perf_counter() - started
        after, flap_held = self._guard_flapping(before, after, now)
        self.machine_state = after
        if after.state is not before.state and before.state is not None:  # the first decision is no switch
            self._transition_times.append(now)
        override, expired = self._current_override()
        effective = effective_state(after.state, override, self._wall_clock())
        changed = effective is not self._effective
        desired = None if effective is None else self.decider.policy.limit_for(effective, self._remote)
        started = time.perf_counter()
        applied, drifted_from, limiter_error, checked = self._enforce(effective, desired, now, changed)
        self._effective = effective  # only now: a change that raised is still a change next tick
        return TickReport(
            observation=observation,
            remote_sessions=self._remote if source_error is None else (),
            before=before,
            after=after,
            desired=desired,
            applied=applied,
            drifted_from=drifted_from,
            source_error=source_error,
            limiter_error=limiter_error,
            limiter_checked=checked,
            dry_run=self.dry_run,
            effective_state=effective,
            override=override,
            override_expired=expired,
            flap_held=flap_held,
            plex_latency_sec=plex_latency,
            qbittorrent_latency_sec=(time.perf_counter() - started) if checked else None,
            counted=self._counted,
        )

    def _guard_flapping(self, before: MachineState, after: MachineState, now: float) -> Tuple[MachineState, bool]:
        """Past the flap guard's limit, a hysteresis switch to idle is held (Plex being down is not)."""
        going_idle = after.state is StreamState.IDLE and before.state is StreamState.STREAMING
        if not going_idle or after.last_reason is not TransitionReason.THRESHOLD:
            return after, False
        if not self.decider.flap_guard.holds(StreamState.IDLE, self._transition_times, now):
            return after, False
        return MachineState(state=StreamState.STREAMING, last_reason=before.last_reason), True

    def _current_override(self) -> Tuple[Optional[Override], Optional[Override]]:
        """(the active override, or the one that just ended)."""
        with self._override_lock:  # the status server may set a new one meanwhile: keep that one
            override = self.override
            if override is None:
                return None, None
            if override.active(self._wall_clock()):
                return override, None
            self.override = None
            return None, override

    def set_override(self, override: Optional[Override]) -> None:
        """Set or clear the override (from any thread)."""
        with self._override_lock:
            self.override = override

    def _reconcile_due(self, now: float) -> bool:
        if self.reconcile_interval_sec <= 0 or self._last_check is None:
            return False
        return now - self._last_check >= self.reconcile_interval_sec

    def _target(self, desired: UploadLimit, state_changed: bool) -> UploadLimit:
        """The limit to hold: the desired one, or the current one while the change is within the deadband."""
        current = self.enforced_limit
        if current is None or state_changed or self.decider.deadband.worth_applying(current, desired):
            return desired
        return current

    def _enforce(self, state: Optional[StreamState], desired: Optional[UploadLimit], now: float, state_changed: bool):
        """Returns (applied, drifted_from, error, checked)."""
        if state is None or desired is None:
            return None, None, None, False
        target = self._target(desired, state_changed)
        wanted = (state, target)
        if self.dry_run:
            if wanted == self._enforced:
                return None, None, None, False
            self._enforced = wanted
            return target, None, None, False
        reconciling = wanted == self._enforced
        if reconciling and not self._reconcile_due(now):
            return None, None, None, False
        idle = self.decider.policy.idle_limit
        try:
            found = self._enforcer.differs(state, target)
            self._last_check = now
            if found is None:
                self._enforced = wanted
                self._enforcer.confirmed(target, idle)
                return None, None, None, True
            self._enforcer.apply(state, target, idle)
        except UploadLimiterError as err:
            self._enforced = None  # unknown now: check again on the next tick
            return None, None, err, True
        self._enforced = wanted
        return target, (found if reconciling else None), None, True

    def restore_idle_limit(self) -> Optional[str]:
        """On exit: undo the throttle if plex-helper may have put one in place. Raises UploadLimiterError."""
        if self.dry_run:
            return None
        restored = self._enforcer.release(self.decider.policy.idle_limit)
        if restored is not None:
            self._enforced = None
        return restored
