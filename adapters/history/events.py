"""The values history is made of, and how a tick becomes them.

StateChange, LimitApplied and Sample are what HistoryRecorder (adapters/history/store.py) stores; times
are wall-clock seconds since the epoch. `HistoryObserver` is the tick observer that turns each
TickReport into events and hands them to an `EventSink` (the recorder); it reads the report's
attributes only (adapters do not import application). With a line meter, each Sample also carries
the measured line per direction, averaged over the polls since the previous sample (LineAverage).
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional, Protocol, Union

from domain.schedule_text import describe_window

SAMPLE_EVERY_SEC = 60.0


# ---- the events (times are wall-clock seconds since the epoch)

@dataclass(frozen=True)
class StateChange:
    """The effective state changed (None: unknown)."""

    at: float
    from_state: Optional[str]
    to_state: Optional[str]
    reason: str


@dataclass(frozen=True)
class LimitApplied:
    """A limit written to one download client (0 = unlimited)."""

    at: float
    client: str
    limit_kib: int


@dataclass(frozen=True)
class LineReading:
    """One direction of the measured line over a sample's minute, in KiB/s: the line's rate (None:
    the meter gave no reading), the download clients' own rates, the remote streams' need, the other
    devices' traffic (None: not known) and the configured capacity."""

    measured_kib: Optional[float]
    clients_kib: float
    streams_kib: float
    other_kib: Optional[float]
    capacity_kib: int


@dataclass(frozen=True)
class Sample:
    """The situation once a minute: remote streams (None: the media servers could not be read),
    each client's limit (None: not known), whether each side answered, and the measured line per
    direction ("upload"/"download"; empty without a line meter, or while nothing was measured)."""

    at: float
    remote_streams: Optional[int]
    limits: Dict[str, Optional[int]] = field(default_factory=dict)
    servers: Dict[str, bool] = field(default_factory=dict)
    clients: Dict[str, bool] = field(default_factory=dict)
    line: Dict[str, LineReading] = field(default_factory=dict)


Event = Union[StateChange, LimitApplied, Sample]


class EventSink(Protocol):
    """Where HistoryObserver's events go (HistoryRecorder.record: queue it, never block, never raise)."""

    def record(self, event: Event) -> None: ...


# ---- from a tick to events

class HistoryObserver:
    """A tick observer: a StateChange when the effective state changes, a LimitApplied for every
    limit written, and a Sample every `sample_every_sec`. Reads only these attributes of a report:
    effective_state, state_changed, after.last_reason, override, override_expired, flap_held,
    remote_sessions, decision.observation_failed, decision.window/.window_changed (when the schedule
    is wired), dry_run, servers[].name/.error, clients[].name/.applied/.error/.checked.
    `line` gives the measured line's figures as of this tick (LineTracker.figures), when a line
    meter is configured."""

    def __init__(self, recorder: EventSink, wall_clock: Callable[[], float] = time.time,
                 sample_every_sec: float = SAMPLE_EVERY_SEC, line: Optional[Callable[[], Any]] = None) -> None:
        self.recorder = recorder
        self._wall_clock = wall_clock
        self.sample_every_sec = sample_every_sec
        self._line = line
        self._line_average = LineAverage()
        self._effective: Optional[str] = None
        self._last_sample: Optional[float] = None
        self._limits: Dict[str, Optional[int]] = {}
        self._clients_up: Dict[str, bool] = {}

    def report(self, report: Any) -> None:
        for event in self.events(report, self._wall_clock()):
            self.recorder.record(event)

    def events(self, report: Any, wall: float) -> List[Event]:
        out: List[Event] = []
        effective = _value(report.effective_state)
        if effective != self._effective and effective is not None:
            out.append(StateChange(wall, self._effective, effective, describe_reason(report)))
        self._effective = effective if effective is not None else self._effective
        for client in report.clients:
            if client.applied is not None and not getattr(report, "dry_run", False):
                self._limits[client.name] = client.applied.kib_per_sec
                out.append(LimitApplied(wall, client.name, client.applied.kib_per_sec))
            elif client.name not in self._limits:
                self._limits[client.name] = None
            if client.checked or client.error is not None:
                self._clients_up[client.name] = client.error is None
        if self._line is not None:
            self._line_average.add(self._line())
        if self._last_sample is None or wall - self._last_sample >= self.sample_every_sec or wall < self._last_sample:
            self._last_sample = wall
            failed = bool(getattr(report.decision, "observation_failed", False))
            out.append(Sample(
                at=wall,
                remote_streams=None if failed else len(report.remote_sessions),
                limits={c.name: self._limits.get(c.name) for c in report.clients},
                servers={s.name: s.error is None for s in report.servers},
                clients={c.name: self._clients_up.get(c.name, True) for c in report.clients},
                line=self._line_average.take(),
            ))
        return out


class LineAverage:
    """The measured line's figures of each poll since the last sample, averaged per direction and
    field: a sample a minute then shows what the line carried over that minute, not one poll of it.
    Reads LineFigures by attribute: throttling, directions (Direction -> DirectionFigures)."""

    _FIELDS = ("measured_kib", "clients_kib", "streams_kib", "other_kib")

    def __init__(self) -> None:
        self._sums: Dict[str, Dict[str, List[float]]] = {}  # direction -> field -> [total, count]
        self._capacity: Dict[str, int] = {}

    def add(self, figures: Any) -> None:
        """One poll's figures; idle ones (nothing measured) add nothing."""
        if figures is None or not getattr(figures, "throttling", False):
            return
        for direction, one in figures.directions.items():
            name = str(_value(direction))
            sums = self._sums.setdefault(name, {f: [0.0, 0] for f in self._FIELDS})
            for f in self._FIELDS:
                value = getattr(one, f)
                if value is not None:
                    sums[f][0] += float(value)
                    sums[f][1] += 1
            self._capacity[name] = int(one.capacity_kib)

    def take(self) -> Dict[str, LineReading]:
        """The averages since the last take, and a fresh start."""
        def mean(total_count: List[float]) -> Optional[float]:
            return round(total_count[0] / total_count[1], 1) if total_count[1] else None

        out = {}
        for name, sums in self._sums.items():
            means = {f: mean(sums[f]) for f in self._FIELDS}
            out[name] = LineReading(means["measured_kib"], means["clients_kib"] or 0.0, means["streams_kib"] or 0.0,
                                    means["other_kib"], self._capacity[name])
        self._sums, self._capacity = {}, {}
        return out


def describe_reason(report: Any) -> str:
    """Why the effective state is what it is, in a few words."""
    if report.override is not None:
        return "override"
    if report.override_expired is not None:
        return "override ended"
    if report.flap_held:
        return "flap guard"
    decision = getattr(report, "decision", None)
    window = getattr(decision, "window", None)
    if getattr(decision, "window_changed", False):  # a schedule window began or ended
        return "schedule: %s" % describe_window(window) if window is not None else "schedule window ended"
    reason = getattr(report.after, "last_reason", None)
    if reason is not None:
        return str(_value(reason))
    return "observation"


def _value(member: Any) -> Any:
    return getattr(member, "value", member)


__all__ = ["SAMPLE_EVERY_SEC", "Event", "EventSink", "HistoryObserver", "LimitApplied", "LineAverage", "LineReading",
           "Sample", "StateChange", "describe_reason"]
