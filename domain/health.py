"""One health record per media server and per download client: is it answering, since when is it
failing, and why. Kept by the use case, updated once per tick and carried by its TickReport; the log,
the notifications, /health, /metrics and the history all read it instead of counting failures on
their own."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Iterable, Optional, Tuple

from domain.ports import FailureKind, PortError


@dataclass(frozen=True)
class SideHealth:
    """A server's or client's health after one tick."""

    name: str
    kind: str  # "server" or "client"
    asked: bool  # it was asked this tick (a client only when its limit is checked or changed)
    failures: int = 0  # consecutive failed ticks in which it was asked; 0 while it answers
    error: Optional[PortError] = None  # the last failure, while failing
    last_success: Optional[float] = None  # wall clock of the last answer
    latency_sec: Optional[float] = None  # of the last request
    news: bool = False  # it started failing this tick, or started failing differently (another kind)
    recovered_after: int = 0  # it answered again this tick after this many failures
    last_error: Optional[str] = None  # the last failure's sentence, kept after a recovery

    @property
    def failing(self) -> bool:
        return self.failures > 0

    @property
    def failure_kind(self) -> Optional[FailureKind]:
        return self.error.kind if self.error is not None else None


class HealthBook:
    """Steps every side's record by one tick."""

    def __init__(self) -> None:
        self._records: Dict[Tuple[str, str], SideHealth] = {}

    def update(self, kind: str, name: str, asked: bool, error: Optional[PortError],
               latency_sec: Optional[float], wall: float) -> SideHealth:
        key = (kind, name)
        old = self._records.get(key) or SideHealth(name, kind, asked=False)
        if not asked:
            record = SideHealth(name, kind, False, old.failures, old.error, old.last_success, old.latency_sec,
                                last_error=old.last_error)
        elif error is None:
            record = SideHealth(name, kind, True, 0, None, wall, latency_sec if latency_sec is not None else old.latency_sec,
                                recovered_after=old.failures, last_error=old.last_error)
        else:
            news = old.failures == 0 or old.failure_kind is not error.kind
            record = SideHealth(name, kind, True, old.failures + 1, error, old.last_success,
                                latency_sec if latency_sec is not None else old.latency_sec, news=news,
                                last_error=str(error))
        self._records[key] = record
        return record

    def records(self) -> Iterable[SideHealth]:
        return self._records.values()
