"""The service's bookkeeping for one download client (ClientSlot): what it is known to hold, and
keeping it at its share of the budget through its LimitEnforcer."""
from __future__ import annotations

import time
from typing import Optional, Tuple

from domain.allocation import ClientShare
from domain.policies import SpeedLimit
from domain.ports import LimitEnforcer, TransferRates, UploadLimiterError
from domain.state import StreamState
from domain.tick_report import ClientResult


class ClientSlot:
    """The service's bookkeeping for one download client: its share of the budget, its enforcer, what
    it is known to hold. Keeps the client at its share: writes only when the share differs from what
    the client holds (every write is a config write there), and reads the limit back every
    `reconcile_interval_sec` to undo changes made behind its back. One client failing never holds back
    another."""

    def __init__(self, name: str, enforcer: LimitEnforcer, share: Optional[ClientShare] = None,
                 direction: str = "upload", rates: Optional[TransferRates] = None) -> None:
        self.name = name
        self.rates = rates  # the client's transfer rates, where it reports them (for `rebalance`)
        self.direction = direction  # "upload", or "download" for the Usenet clients
        self.enforcer = enforcer
        self.share = share or ClientShare(name)
        # what the client holds, as far as we know, and for which state
        self._enforced: Optional[Tuple[StreamState, SpeedLimit]] = None
        self._last_check: Optional[float] = None

    @property
    def enforced_limit(self) -> Optional[SpeedLimit]:
        return self._enforced[1] if self._enforced else None

    def forget(self) -> None:
        """What the client holds is unknown (new adapters): check it afresh at the next tick."""
        self._enforced = None

    def enforce(self, state: Optional[StreamState], target: Optional[SpeedLimit], idle: SpeedLimit, now: float,
                dry_run: bool, reconcile_interval_sec: float) -> ClientResult:
        """This tick for this client: its share `target` for `state` put in place, or found there."""
        if state is None or target is None:
            return ClientResult(self.name)
        wanted = (state, target)
        if dry_run:
            if wanted == self._enforced:
                return ClientResult(self.name, target)
            self._enforced = wanted
            return ClientResult(self.name, target, applied=target)
        reconciling = wanted == self._enforced
        if reconciling and not self._reconcile_due(now, reconcile_interval_sec):
            return ClientResult(self.name, target)
        started = time.perf_counter()
        try:
            found = self.enforcer.differs(state, target)
            self._last_check = now
            if found is None:
                self._enforced = wanted
                self.enforcer.confirmed(target, idle)
                return ClientResult(self.name, target, checked=True, latency_sec=time.perf_counter() - started)
            written = self.enforcer.apply(state, target, idle)
        except UploadLimiterError as err:
            self._enforced = None  # unknown now: check again on the next tick
            return ClientResult(self.name, target, error=err, checked=True, latency_sec=time.perf_counter() - started)
        self._enforced = wanted
        return ClientResult(
            self.name, target, applied=written if written is not None else target, drifted_from=found if reconciling else None, checked=True,
            latency_sec=time.perf_counter() - started,
        )

    def _reconcile_due(self, now: float, interval_sec: float) -> bool:
        if interval_sec <= 0 or self._last_check is None:
            return False
        return now - self._last_check >= interval_sec

    def release(self, idle: SpeedLimit) -> Optional[str]:
        """On exit: undo a throttle plex-helper may have put in place. Raises UploadLimiterError."""
        restored = self.enforcer.release(idle)
        if restored is not None:
            self._enforced = None
        return restored
