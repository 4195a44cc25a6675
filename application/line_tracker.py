"""The measured line, on the application side: while the throttle is on, each poll reads the line
meter once and the download clients' own rates, steps the domain's loop (domain/line/budget.py) and
hands the service the budget per direction that leaves the line's headroom free for the streams.

Only the directions with a configured capacity are measured; the others keep the fixed budget. When
the meter fails or reads nonsense the fixed budget applies: one WARNING when that starts, one INFO
when the meter reads again, and /health says why in between. While idle nothing is read, and the
loop starts afresh at the next throttle (an old baseline would average over the idle hours).
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, FrozenSet, Iterable, Mapping, Optional, Sequence

from domain.limit_plan import Direction
from domain.line.budget import (
    DirectionBudget, DirectionInput, DirectionSettings, LineInput, LineSettings, LineState, LineStep, step_line,
)
from domain.line.counters import CounterSample
from domain.policies import KIB_PER_KBIT, MAX_SESSION_KBPS, SpeedLimit
from domain.ports import LineMeter, LineMeterError, DownloadClientError
from domain.sessions import PlaybackSession

# a direction without a capacity still needs settings for the pure step; its budget is never used
_UNMEASURED = DirectionSettings(capacity_kib=2_000_000)


@dataclass(frozen=True)
class DirectionFigures:
    """One measured direction as of the last poll, in KiB/s, for /health, /metrics and history."""

    capacity_kib: int
    measured_kib: Optional[float]  # the line's rate (None: no reading this poll)
    other_kib: Optional[float]  # the other devices' traffic, smoothed
    clients_kib: float  # the download clients' own rates (unknown ones as 0)
    streams_kib: float  # the remote streams' bandwidth, kept free for them
    budget_kib: int  # what the clients got in this direction (0 = unlimited)
    fallback: Optional[str]  # why the measurement was not used, None when it was


@dataclass(frozen=True)
class LineFigures:
    meter: str  # the meter's kind and where it reads ("upnp", "snmp 192.168.1.1", "host eth0")
    throttling: bool  # False: idle, nothing measured
    directions: Mapping[Direction, DirectionFigures]
    failure: Optional[str] = None  # the meter could not be read, or its counters made no sense

    def as_health(self) -> Dict[str, Any]:
        """The `line` object of /health."""
        def one(figures: DirectionFigures) -> Dict[str, Any]:
            return {"capacity_kib": figures.capacity_kib, "measured_kib": _round(figures.measured_kib),
                    "other_kib": _round(figures.other_kib), "clients_kib": _round(figures.clients_kib),
                    "streams_kib": _round(figures.streams_kib), "budget_kib": figures.budget_kib,
                    "fallback": figures.fallback}
        return {"meter": self.meter, "throttling": self.throttling, "failure": self.failure,
                **{d.value: one(f) for d, f in self.directions.items()}}

    def metric_lines(self) -> str:
        """The `plex_helper_line_*` series in Prometheus' text format (KiB/s values as bytes/s)."""
        series = (("measured", "measured_kib", "the line's rate as the meter measures it"),
                  ("other", "other_kib", "other devices' traffic on the line, smoothed"),
                  ("budget", "budget_kib", "the download clients' budget the measured line gives (0 = unlimited)"),
                  ("capacity", "capacity_kib", "the line's configured capacity"))
        lines = []
        for name, attribute, helptext in series:
            lines += ["# HELP plex_helper_line_%s_bytes_per_second %s" % (name, helptext),
                      "# TYPE plex_helper_line_%s_bytes_per_second gauge" % name]
            for direction, figures in self.directions.items():
                value = getattr(figures, attribute)
                if value is not None:
                    lines.append('plex_helper_line_%s_bytes_per_second{direction="%s"} %d' % (
                        name, direction.value, round(value * 1024)))
        lines += ["# HELP plex_helper_line_fallback 1 while the fixed budget applies because the meter failed",
                  "# TYPE plex_helper_line_fallback gauge"]
        for direction, figures in self.directions.items():
            lines.append('plex_helper_line_fallback{direction="%s"} %d' % (direction.value, figures.fallback is not None))
        return "\n".join(lines) + "\n"


def _round(value: Optional[float]) -> Optional[float]:
    return None if value is None else round(value, 1)


def streams_kib(remote: Iterable[PlaybackSession]) -> float:
    """The remote streams' bandwidth in KiB/s. Plex's session bandwidth is what it reserves for a
    stream, already above its average rate, so it is both what they move and what they need; the
    line's headroom is the margin (an overhead factor on top would count the margin twice)."""
    return sum(min(max(s.bandwidth_kbps, 0), MAX_SESSION_KBPS) for s in remote) * KIB_PER_KBIT


def measured_directions(capacities: Mapping[Direction, int]) -> FrozenSet[Direction]:
    """The directions with a configured capacity: the only ones the tracker reads from the meter's
    counters (a meter may leave the others unread, as 0)."""
    return frozenset(d for d, kib in capacities.items() if kib)


class LineTracker:
    """Keeps the loop's state between polls. `budgets` is called from the poll thread; `figures`
    from any thread."""

    def __init__(self, meter: LineMeter, capacities: Mapping[Direction, int], headroom: float, label: str,
                 clock: Callable[[], float] = time.monotonic, window_sec: float = 30.0,
                 logger: Optional[logging.Logger] = None) -> None:
        self.meter = meter
        self.label = label
        self.measured = measured_directions(capacities)
        made = {d: DirectionSettings(capacity_kib=kib, headroom=headroom, window_sec=window_sec)
                for d, kib in capacities.items() if kib}
        self.settings = LineSettings(made.get(Direction.UPLOAD, _UNMEASURED), made.get(Direction.DOWNLOAD, _UNMEASURED))
        self._clock = clock
        self._logger = logger or logging.getLogger("plex_helper")
        self._state = LineState()
        self._failing: Optional[str] = None  # the reason of the fallback in force, warned about once
        self._lock = threading.Lock()
        self._figures = LineFigures(label, False, {})

    def budgets(self, streaming: bool, fixed: Mapping[Direction, Optional[SpeedLimit]],
                remote: Sequence[PlaybackSession], clients: Sequence[Any]) -> Dict[Direction, Optional[SpeedLimit]]:
        """The budget per direction: the measured line's in each measured direction while streaming,
        else `fixed` as it is. `clients` are the service's ClientSlots (their `rates`, if any)."""
        budgets = dict(fixed)
        if not streaming:
            if self._state != LineState():
                self._state = LineState()
                with self._lock:
                    self._figures = LineFigures(self.label, False, {})
            return budgets
        sample, error = self._sample()
        streams = streams_kib(remote)
        inputs = LineInput(
            upload=DirectionInput(self._clients_kib(clients, Direction.UPLOAD), streams, streams,
                                  fixed.get(Direction.UPLOAD)),
            download=DirectionInput(self._clients_kib(clients, Direction.DOWNLOAD), 0.0, 0.0,
                                    fixed.get(Direction.DOWNLOAD)),
        )
        step = step_line(self._state, sample, inputs, self.settings)
        self._state = step.state
        chosen = {d: self._of(step, d) for d in self.measured}
        for direction, budget in chosen.items():
            budgets[direction] = budget.budget
        self._note(error or step.meter_failure, chosen, inputs)
        return budgets

    def figures(self) -> LineFigures:
        with self._lock:
            return self._figures

    def close(self) -> None:
        self.meter.close()

    # ------------------------------------------------------------------ helpers

    def _sample(self) -> "tuple[Optional[CounterSample], Optional[str]]":
        try:
            counters = self.meter.read_counters()
        except LineMeterError as err:
            return None, str(err)
        return CounterSample(self._clock(), counters), None

    def _clients_kib(self, clients: Sequence[Any], direction: Direction) -> float:
        """The clients' own rates added up; one that cannot say counts as 0 (its traffic then reads
        as other devices', which lowers the budget: the safe side)."""
        if direction not in self.measured:
            return 0.0
        total = 0.0
        for slot in clients:
            read = getattr(slot.rates, "current_%s_rate" % direction.value, None)
            if read is None:
                continue
            try:
                total += read().kib_per_sec
            except DownloadClientError as err:
                self._logger.debug("line meter: %s's %s rate unknown this poll: %s", slot.name, direction.value, err)
        return total

    @staticmethod
    def _of(step: LineStep, direction: Direction) -> DirectionBudget:
        return step.upload if direction is Direction.UPLOAD else step.download

    def _note(self, failure: Optional[str], chosen: Mapping[Direction, DirectionBudget], inputs: LineInput) -> None:
        """Keeps the figures, and logs a fallback once when it starts and once when it ends."""
        reason = failure or next((b.fallback for b in chosen.values() if b.fallback), None)
        if reason is not None and self._failing is None:
            self._logger.warning("line meter (%s): %s; the fixed budget applies until it reads again", self.label, reason)
        elif reason is None and self._failing is not None:
            self._logger.info("line meter (%s) reads again: the measured line sets the budget", self.label)
        self._failing = reason
        given = {Direction.UPLOAD: inputs.upload, Direction.DOWNLOAD: inputs.download}
        directions = {
            d: DirectionFigures(
                self._capacity(d), b.measured_kib, b.other_kib, given[d].clients_kib, given[d].streams_need_kib,
                b.budget.kib_per_sec, b.fallback or (failure if b.measured_kib is None else None))
            for d, b in sorted(chosen.items(), key=lambda item: item[0].value, reverse=True)
        }
        with self._lock:
            self._figures = LineFigures(self.label, True, directions, failure)

    def _capacity(self, direction: Direction) -> int:
        settings = self.settings.upload if direction is Direction.UPLOAD else self.settings.download
        return settings.capacity_kib


def describe_meter(meter: Any) -> str:
    """The meter's kind and where it reads, without secrets: the label of logs and /health."""
    if meter.type == "snmp":
        return "snmp %s:%d %s" % (meter.host, meter.port, meter.interface)
    if meter.type == "host":
        return "host %s" % meter.interface
    return "upnp %s" % (meter.url or "(found by SSDP)")


def check_line(settings: Any, seconds: float = 3.0, sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> str:
    """`--check`: find the meter, then what it measures over `seconds`, each direction. Raises
    LineMeterError (a sentence) when it cannot be read.

    Both directions are read, also one without a capacity (marked "not measured"): what the line
    carries there helps to decide whether to configure it."""
    from application.wiring.line import make_line_meter
    from domain.line.counters import line_rates

    meter = make_line_meter(settings.line_meter, min(settings.http_timeout_sec, 3.0))
    try:
        found = meter.describe()
        first = CounterSample(clock(), meter.read_counters())
        sleep(seconds)
        last = CounterSample(clock(), meter.read_counters())
    finally:
        meter.close()
    rates = line_rates(first, last, float("inf"), float("inf"))
    words = []
    for name, kib, capacity in (("upload", rates and rates.sent_kib, settings.line_upload_kbps),
                                ("download", rates and rates.received_kib, settings.line_download_kbps)):
        measured = "?" if kib is None else "%.0f KiB/s (%.1f Mbit/s)" % (kib, kib * 1024 * 8 / 1e6)
        words.append("%s %s%s" % (name, measured, " of %d KiB/s" % capacity if capacity else " (not measured)"))
    failure = "; %s" % rates.failure if rates is not None and rates.failure else ""
    return "line meter OK: %s; over %g s: %s%s" % (found, seconds, ", ".join(words), failure)
