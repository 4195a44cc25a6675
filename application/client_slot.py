"""The service's bookkeeping for one download client (ClientSlot): which directions it is limited in,
their enforcers, and when it was last read. It decides no limit: the plan (domain/limit_plan.py)
does; the slot reads what the client holds, hands the plan the user's own limits, and puts the
plan's targets in place."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Mapping, Optional, Union

from domain.allocation import ClientShare
from domain.limit_plan import Direction, LimitPlan, PlannedClient
from domain.policies import SpeedLimit
from domain.ports import TransferRates, DownloadClientError
from domain.state import StreamState
from domain.tick_report import ClientResult, LimitResult


@dataclass(frozen=True)
class ClientRead:
    """What one tick's read of a client found: whether it was read, what a direction held when it had
    been changed behind plex-helper's back, or the failure (this tick's result for the client)."""

    started: float  # perf_counter at the start: the client's latency counts the read and the writes
    checked: bool = False
    drift: Mapping[Direction, str] = field(default_factory=dict)
    failure: Optional[ClientResult] = None


class ClientSlot:
    """One download client: an enforcer per direction it is limited in. Writes only when the plan's
    target differs from what the client holds (every write is a config write there), and reads the
    limits every `reconcile_interval_sec` (also while idle, so the surfaces show the user's real
    limit) to see changes made behind its back. One client failing never holds back another."""

    def __init__(self, name: str, enforcer: Union[Any, Mapping[Direction, Any]], share: Optional[ClientShare] = None,
                 direction: str = "upload", rates: Optional[TransferRates] = None) -> None:
        self.name = name
        self.rates = rates  # the client's transfer rates, where it reports them (for `rebalance`)
        if isinstance(enforcer, Mapping):
            self.enforcers: Dict[Direction, Any] = dict(enforcer)
        else:
            self.enforcers = {Direction(direction): enforcer}
        self.share = share or ClientShare(name)
        self._put_for: Optional[StreamState] = None  # the state whose plan is in place
        self._last_check: Optional[float] = None
        self._planned: Dict[Direction, Optional[SpeedLimit]] = {}  # dry run: what it would hold

    @property
    def direction(self) -> str:
        """The direction the slot is known by (upload for torrent clients, download for Usenet)."""
        return (Direction.UPLOAD if Direction.UPLOAD in self.enforcers else Direction.DOWNLOAD).value

    @property
    def enforcer(self) -> Any:
        """The enforcer of the direction the slot is known by."""
        return self.enforcers[Direction(self.direction)]

    @property
    def enforced_limit(self) -> Optional[SpeedLimit]:
        return self.enforcer.held

    def forget(self) -> None:
        """What the client holds is unknown (new adapters): read it afresh at the next tick."""
        self._put_for = None
        self._last_check = None

    def planned(self, upload_rate: Optional[SpeedLimit] = None) -> PlannedClient:
        """The client as the plan sees it: its directions, share and the user's own limits."""
        return PlannedClient(
            self.name, frozenset(self.enforcers), self.share.weight,
            # a client's own streaming limit is for the direction it is known by (a torrent client's
            # upload, a Usenet client's download), not for every direction it is limited in
            None if self.share.fixed is None else {Direction(self.direction): self.share.fixed},
            {d: e.own_limit() for d, e in self.enforcers.items()}, upload_rate,
        )

    def refresh(self, state: StreamState, now: float, reconcile_interval_sec: float, dry_run: bool) -> ClientRead:
        """Read the client's limits when they may have changed or are due: at a change of state, at
        the reconcile interval, and until the first read. The failure, if any, is this tick's result."""
        started = time.perf_counter()
        if dry_run:
            return ClientRead(started)
        due = self._last_check is None or self._put_for is not state or (
            reconcile_interval_sec > 0 and now - self._last_check >= reconcile_interval_sec)
        if not due:
            return ClientRead(started)
        drift: Dict[Direction, str] = {}
        try:
            for direction, enforcer in self.enforcers.items():
                found = enforcer.check()
                if found is not None:
                    drift[direction] = found
        except DownloadClientError as err:
            self.forget()
            return ClientRead(started, True, failure=ClientResult(
                self.name, error=err, checked=True, latency_sec=time.perf_counter() - started))
        self._last_check = now
        return ClientRead(started, True, drift)

    def enforce(self, state: StreamState, plan: LimitPlan, dry_run: bool, read: ClientRead) -> ClientResult:
        """The plan's targets put in place (or, in a dry run, what would be), after `read`."""
        limits: List[LimitResult] = []
        started = read.started if read.checked else time.perf_counter()
        try:
            for direction, enforcer in self.enforcers.items():
                limits.append(self._enforce(direction, enforcer, state, plan, dry_run, read.drift.get(direction)))
        except DownloadClientError as err:
            self.forget()
            return ClientResult(self.name, error=err, checked=True, latency_sec=time.perf_counter() - started,
                                limits=tuple(limits))
        self._put_for = state
        first = limits[0]
        checked = (read.checked or any(lim.applied is not None for lim in limits)) and not dry_run
        return ClientResult(
            self.name, first.target, applied=first.applied, drifted_from=first.drifted_from, checked=checked,
            latency_sec=(time.perf_counter() - started) if checked else None, limits=tuple(limits),
        )

    def _enforce(self, direction: Direction, enforcer: Any, state: StreamState, plan: LimitPlan,
                 dry_run: bool, drift: Optional[str]) -> LimitResult:
        target = plan.target(self.name, direction)
        if target is not None and target.own is False and state is StreamState.IDLE and enforcer.own_idle:
            target = None  # this enforcer's idle is the user's own limit whatever the others do
        own = target is None or target.own
        wanted = target.limit if target is not None else None
        if dry_run:
            applied = wanted if wanted is not None and self._planned.get(direction) != wanted else None
            self._planned[direction] = wanted
            return LimitResult(direction, wanted, own, wanted, applied)
        applied = None
        if own:
            applied = enforcer.restore_own()  # None when nothing of plex-helper's was in place
        elif enforcer.held != wanted:
            enforcer.put(wanted, throttle=state is StreamState.STREAMING)
            applied = wanted
        return LimitResult(direction, wanted if wanted is not None else enforcer.own_limit(), own, enforcer.held,
                           applied, drift if applied is not None else None)

    def release(self, idle: Mapping[Direction, Optional[SpeedLimit]]) -> Optional[str]:
        """On exit: undo every throttle plex-helper may have put in place. Raises DownloadClientError
        after trying every direction."""
        done, failed = [], []
        for direction, enforcer in self.enforcers.items():
            try:
                restored = enforcer.release(idle.get(direction))
            except DownloadClientError as err:
                failed.append(err)
                continue
            if restored is not None:
                done.append(restored)
        self.forget()
        if failed:
            raise failed[0]
        return "; ".join(done) or None
