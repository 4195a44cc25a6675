"""The decision: one object turns what the media servers showed into the state and the budget.

`Throttle.step` owns every rule between reading the servers and enforcing a limit: which sessions
count, hysteresis, the rule for event-triggered observations, the flap guard, the override and the
deadband. It is pure: time comes in as numbers, nothing is read or written. The service only
orchestrates: read the servers -> step -> allocate -> enforce -> report.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, replace
from typing import Deque, Dict, Optional, Sequence, Tuple

from domain.limit_plan import Direction
from domain.overrides import FlapGuard, Override, TemporaryLimit, effective_state, split_expired
from domain.policies import Deadband, LimitPolicy, SpeedLimit
from domain.schedule import LocalTime, Window, policy_in_window, window_at
from domain.ports import StreamSourceError
from domain.sessions import PlaybackSession, RemoteStreamRule
from domain.state import MachineState, StreamingStateMachine, StreamState, TransitionReason


@dataclass(frozen=True)
class ServerReading:
    """One media server's answer this poll: its sessions, or why it could not be read (`failure`, the
    sentence; `error`, the port's error with its kind), and how long the read took."""

    name: str
    sessions: Tuple[PlaybackSession, ...] = ()
    failure: Optional[str] = None
    error: Optional[StreamSourceError] = None
    latency_sec: Optional[float] = None

    @property
    def ok(self) -> bool:
        return self.failure is None


@dataclass(frozen=True)
class Evidence:
    """What all servers together say. A remote stream seen on any server is evidence of streaming;
    every server read and none remote is evidence of idle; some unreadable and none remote among the
    rest is no evidence at all (a failed observation: the state is held)."""

    remote: Tuple[PlaybackSession, ...]
    failed_servers: Tuple[str, ...]

    @property
    def failed(self) -> bool:
        return not self.remote and bool(self.failed_servers)


def weigh(readings: Sequence[ServerReading], rule: RemoteStreamRule) -> Evidence:
    remote = tuple(s for r in readings if r.ok for s in rule.remote_sessions(r.sessions))
    return Evidence(remote=remote, failed_servers=tuple(r.name for r in readings if not r.ok))


@dataclass(frozen=True)
class Decision:
    """What one step decided, and why."""

    before: MachineState
    after: MachineState
    remote: Tuple[PlaybackSession, ...]  # the sessions that count (empty when nothing could be read)
    failed_servers: Tuple[str, ...]
    effective: Optional[StreamState]  # the state whose limit applies (an active override wins)
    budget: Optional[SpeedLimit]  # the total for all clients; None while the state is unknown
    desired: Optional[SpeedLimit]  # the policy's limit before the deadband held the budget back
    changed: bool  # the effective state differs from the last step's
    counted: bool = True  # False: a triggered observation too soon to advance the hysteresis
    flap_held: bool = False  # the flap guard kept the throttle on instead of going idle
    override: Optional[Override] = None  # active this step
    override_expired: Optional[Override] = None  # ended this step
    window: Optional[Window] = None  # the schedule window in force (none while an override is)
    window_changed: bool = False
    idle_limit: Optional[SpeedLimit] = None  # idle's limit now (a window may change it)
    temporary: Tuple[TemporaryLimit, ...] = ()  # active this step (at most one per direction)
    temporary_ended: Tuple[TemporaryLimit, ...] = ()  # ended this step
    download_budget: Optional[SpeedLimit] = None  # set by a temporary limit; None: the configured one

    @property
    def limits_state(self) -> Optional[StreamState]:
        """The state the clients' limits are planned for: a temporary limit holds them as while
        streaming (each direction at its budget, capped at the user's own limits), whatever the
        effective state says about the streams."""
        return StreamState.STREAMING if self.temporary else self.effective

    @property
    def state_changed(self) -> bool:
        return self.before.state is not self.after.state

    @property
    def observation_failed(self) -> bool:
        return not self.remote and bool(self.failed_servers)


@dataclass(frozen=True)
class ThrottleRules:
    """The configuration of a Throttle; swapped as one on reload."""

    rule: RemoteStreamRule
    machine: StreamingStateMachine
    policy: LimitPolicy
    deadband: Deadband = Deadband()
    flap_guard: FlapGuard = FlapGuard()
    min_count_interval_sec: float = 0.0  # half the poll interval: see Throttle.step
    schedule: Tuple[Window, ...] = ()


class Throttle:
    """Steps the state by one observation of every media server.

    A caller may rely on (each pinned by a property in tests/domain):
    - hysteresis: the state switches only after `streaming_threshold` / `idle_threshold` counted
      observations in a row that argue for the other state; the first observation decides at once;
    - an observation triggered by an event or webhook sooner than `min_count_interval_sec` after the
      last counted one advances no streak (bursts cannot make it sloppier), but it resets one, and it
      decides where one observation is enough (the first, or a threshold of 1);
    - failures hold the state; past `down_restore_after_sec` of failures the state goes idle;
    - past the flap guard's limit a switch to idle is held (a source that is down is not);
    - an active override decides the effective state; when it ends, the observed state applies;
    - the budget is the policy's limit for the effective state, held back by the deadband while the
      effective state stays the same (a change of state always applies at once);
    - a schedule window in force (none during an override) replaces the policy's fields it names,
      and one with `throttle: false` makes the effective state idle; its edges apply at once;
    - a temporary limit active at `wall_now` is its direction's budget, whatever the state and the
      deadband; the other direction keeps its budget while streaming, and otherwise idle's limit
      (upload) or none (download: unlimited, every client at its own limit). It ends exactly at its
      `until`: the step at or after that reports it once in `temporary_ended`, and the policy's
      budget applies again at once.
    """

    def __init__(self, rules: ThrottleRules) -> None:
        self.rules = rules
        self.state = MachineState()
        self.override: Optional[Override] = None
        self._last_counted: Optional[float] = None
        self._transitions: Deque[float] = collections.deque(maxlen=1000)
        self._effective: Optional[StreamState] = None
        self._budget: Optional[SpeedLimit] = None
        self._remote: Tuple[PlaybackSession, ...] = ()
        self._window: Optional[Window] = None
        self.temporary: Dict[Direction, TemporaryLimit] = {}

    def step(self, readings: Sequence[ServerReading], now: float, wall_now: float, triggered: bool = False,
             local: Optional[LocalTime] = None) -> Decision:
        """`now` is monotonic seconds (hysteresis, failures, the flap guard); `wall_now` is epoch
        seconds (the override, which must survive a restart); `local` is the local time of day and
        week that picks the schedule's window (none given: no window applies)."""
        rules = self.rules
        before = self.state
        evidence = weigh(readings, rules.rule)
        counted = True
        if evidence.failed:
            after = rules.machine.fail(before, now)
        else:
            self._remote = evidence.remote
            after, counted = self._observe(before, len(evidence.remote), now, triggered)
        after, flap_held = self._guard_flapping(before, after, now)
        self.state = after
        if after.state is not before.state and before.state is not None:  # the first decision is no switch
            self._transitions.append(now)
        override, expired = self._current_override(wall_now)
        # an override means exactly what it says: no window applies while one is active
        window = None if override is not None or local is None else window_at(rules.schedule, local)
        window_changed, self._window = window != self._window, window
        effective = effective_state(after.state, override, wall_now)
        if window is not None and not window.throttle and effective is StreamState.STREAMING:
            effective = StreamState.IDLE  # the machine keeps counting, so the window's end applies at once
        changed = effective is not self._effective
        self._effective = effective
        temporary, ended = split_expired(self.temporary, wall_now)
        self.temporary = temporary
        policy = policy_in_window(rules.policy, window)
        desired = None if effective is None else policy.limit_for(effective, self._remote)
        if (desired is None or changed or window_changed or self._budget is None or ended
                or rules.deadband.worth_applying(self._budget, desired)):
            self._budget = desired
        budget, download_budget = self._budget, None
        if temporary:
            streaming = effective is StreamState.STREAMING
            budget = budget if streaming else policy.idle_limit
            download_budget = None if streaming else SpeedLimit(0)
            if Direction.UPLOAD in temporary:
                budget = temporary[Direction.UPLOAD].limit
            if Direction.DOWNLOAD in temporary:
                download_budget = temporary[Direction.DOWNLOAD].limit
        return Decision(
            before=before,
            after=after,
            remote=() if evidence.failed else evidence.remote,
            failed_servers=evidence.failed_servers,
            effective=effective,
            budget=budget,
            desired=desired,
            changed=changed,
            counted=counted,
            flap_held=flap_held,
            override=override,
            override_expired=expired,
            window=window,
            window_changed=window_changed,
            idle_limit=policy.idle_limit,
            temporary=tuple(temporary[d] for d in Direction if d in temporary),
            temporary_ended=ended,
            download_budget=download_budget,
        )

    def forget_budget(self) -> None:
        """What the clients hold is unknown again (a write failed, or new clients): the next step
        applies the policy's limit as it is, without the deadband holding an old one."""
        self._budget = None

    def reconfigure(self, rules: ThrottleRules) -> None:
        """New rules keep the state, the streaks and the override."""
        self.rules = rules

    def set_override(self, override: Optional[Override]) -> None:
        self.override = override

    def set_temporary_limit(self, limit: TemporaryLimit) -> None:
        """Replaces the one of its direction."""
        self.temporary = {**self.temporary, limit.direction: limit}

    def clear_temporary_limit(self, direction: Optional[Direction] = None) -> None:
        """Ends the one of `direction` (None: both) now, without reporting it as ended on time."""
        self.temporary = {} if direction is None else {d: t for d, t in self.temporary.items() if d is not direction}

    @property
    def idle_limit(self) -> SpeedLimit:
        return self.rules.policy.idle_limit

    def _observe(self, before: MachineState, remote_streams: int, now: float, triggered: bool) -> Tuple[MachineState, bool]:
        machine = self.rules.machine
        if triggered and before.state is not None and self._last_counted is not None:
            needed = (
                machine.hysteresis.streaming_threshold
                if before.state is StreamState.IDLE
                else machine.hysteresis.idle_threshold
            )
            if now - self._last_counted < self.rules.min_count_interval_sec and needed > 1:
                agrees = (remote_streams > 0) == (before.state is StreamState.STREAMING)
                held = replace(before, contrary_streak=0 if agrees else before.contrary_streak, failing_since=None)
                return held, False
        self._last_counted = now
        return machine.observe(before, remote_streams), True

    def _guard_flapping(self, before: MachineState, after: MachineState, now: float) -> Tuple[MachineState, bool]:
        going_idle = after.state is StreamState.IDLE and before.state is StreamState.STREAMING
        if not going_idle or after.last_reason is not TransitionReason.THRESHOLD:
            return after, False
        if not self.rules.flap_guard.holds(StreamState.IDLE, self._transitions, now):
            return after, False
        return MachineState(state=StreamState.STREAMING, last_reason=before.last_reason), True

    def _current_override(self, wall_now: float) -> Tuple[Optional[Override], Optional[Override]]:
        """(the active override, or the one that just ended)."""
        override = self.override
        if override is None:
            return None, None
        if override.active(wall_now):
            return override, None
        self.override = None
        return None, override
