"""The use case: one tick observes Plex, steps the state machine and enforces the upload limit."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Tuple

from domain.policies import Deadband, LimitPolicy, UploadLimit
from domain.ports import StreamSource, StreamSourceError, UploadLimiter, UploadLimiterError
from domain.sessions import Observation, PlaybackSession, RemoteStreamRule
from domain.state import MachineState, StreamingStateMachine


@dataclass(frozen=True)
class TickReport:
    """What one tick saw and did."""

    observation: Observation
    remote_sessions: Tuple[PlaybackSession, ...]
    before: MachineState
    after: MachineState
    desired: Optional[UploadLimit]  # None while the state is still unknown
    applied: Optional[UploadLimit] = None  # written this tick (in a dry run: would have been)
    drifted_from: Optional[UploadLimit] = None  # set when qBittorrent's limit was changed behind our back
    source_error: Optional[StreamSourceError] = None
    limiter_error: Optional[UploadLimiterError] = None
    limiter_checked: bool = False  # qBittorrent was asked this tick
    dry_run: bool = False

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


class ThrottleService:
    """Keeps qBittorrent's upload limit at the policy's limit for the current state.

    Writes only when the desired limit differs from what qBittorrent holds (every write is a
    config write there); reads the limit back every `reconcile_interval_sec` to undo changes
    made behind its back.
    """

    def __init__(
        self,
        source: StreamSource,
        limiter: UploadLimiter,
        decider: Decider,
        clock: Callable[[], float],
        dry_run: bool = False,
        reconcile_interval_sec: float = 60.0,
    ) -> None:
        self._source = source
        self._limiter = limiter
        self.decider = decider
        self._clock = clock
        self.dry_run = dry_run
        self.reconcile_interval_sec = reconcile_interval_sec
        self.machine_state = MachineState()
        self._remote: Tuple[PlaybackSession, ...] = ()
        self._enforced: Optional[UploadLimit] = None  # what qBittorrent holds, as far as we know
        self._last_check: Optional[float] = None
        self._lowered = False  # plex-helper may have set something other than the idle limit

    def replace_adapters(self, source: StreamSource, limiter: UploadLimiter) -> None:
        """New connection settings: keep the state, but check qBittorrent's limit afresh."""
        self._source = source
        self._limiter = limiter
        self._enforced = None

    @property
    def enforced_limit(self) -> Optional[UploadLimit]:
        return self._enforced

    def tick(self) -> TickReport:
        now = self._clock()
        before = self.machine_state
        source_error = None
        try:
            sessions = self._source.read_sessions()
        except StreamSourceError as err:
            source_error = err
            observation = Observation.failed(str(err))
            after = self.decider.machine.fail(before, now)
        else:
            observation = Observation.of(sessions)
            self._remote = self.decider.rule.remote_sessions(sessions)
            after = self.decider.machine.observe(before, len(self._remote))
        self.machine_state = after
        remote = self._remote if source_error is None else ()
        desired = None if after.state is None else self.decider.policy.limit_for(after.state, self._remote)
        applied, drifted_from, limiter_error, checked = self._enforce(desired, now, before.state is not after.state)
        return TickReport(
            observation=observation,
            remote_sessions=remote,
            before=before,
            after=after,
            desired=desired,
            applied=applied,
            drifted_from=drifted_from,
            source_error=source_error,
            limiter_error=limiter_error,
            limiter_checked=checked,
            dry_run=self.dry_run,
        )

    def _reconcile_due(self, now: float) -> bool:
        if self.reconcile_interval_sec <= 0 or self._last_check is None:
            return False
        return now - self._last_check >= self.reconcile_interval_sec

    def _target(self, desired: UploadLimit, state_changed: bool) -> UploadLimit:
        """The limit to hold: the desired one, or the current one while the change is within the deadband."""
        if self._enforced is None or state_changed or self.decider.deadband.worth_applying(self._enforced, desired):
            return desired
        return self._enforced

    def _enforce(self, desired: Optional[UploadLimit], now: float, state_changed: bool):
        """Returns (applied, drifted_from, error, checked)."""
        if desired is None:
            return None, None, None, False
        target = self._target(desired, state_changed)
        if self.dry_run:
            if target == self._enforced:
                return None, None, None, False
            self._enforced = target
            return target, None, None, False
        reconciling = target == self._enforced
        if reconciling and not self._reconcile_due(now):
            return None, None, None, False
        idle = self.decider.policy.idle_limit
        try:
            found = UploadLimit.from_bytes(self._limiter.current_upload_limit())
            self._last_check = now
            if found == target:
                self._enforced = target
                self._lowered = target != idle
                return None, None, None, True
            if target != idle:
                self._lowered = True
            self._limiter.set_upload_limit(target.bytes_per_sec)
        except UploadLimiterError as err:
            self._enforced = None  # unknown now: check again on the next tick
            return None, None, err, True
        self._enforced = target
        if target == idle:
            self._lowered = False
        return target, (found if reconciling else None), None, True

    def restore_idle_limit(self) -> Optional[UploadLimit]:
        """On exit: put the idle limit back if plex-helper may have lowered it. Raises UploadLimiterError."""
        if self.dry_run or not self._lowered:
            return None
        idle = self.decider.policy.idle_limit
        self._limiter.set_upload_limit(idle.bytes_per_sec)
        self._enforced = idle
        self._lowered = False
        return idle
