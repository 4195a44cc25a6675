"""The measured line: a budget for the download clients from what the line really carries.

Each poll the application reads the line meter's counters and steps this loop with them:

    other    = measured rate - the download clients' own rates - the remote streams' rates   (>= 0)
    smoothed = exponential moving average of `other` (the other devices on the line)
    budget   = capacity x (1 - headroom) - what the remote streams need - smoothed

clamped to [floor, capacity], never above the fixed budget (the one the policy gives without a
meter), and held back by a deadband while it moves less than a few percent of the line. Upload and
download are two independent loops with the same rules.

What is smoothed is `other`, not the measured rate: the clients' rates are subtracted as they are
now, so lowering their limits shows at once instead of reading as other devices for a while.

Smoothing: `window_sec` is the time in which a step change is 95 % absorbed (about three time
constants: alpha = 1 - 0.05 ** (dt / window_sec), so irregular polls weigh by the time they cover). With polls
every `p` seconds and `window_sec <= 3 p`, a step change in other traffic is 95 % absorbed by the
third poll after it, and the budget then lies within the deadband of where the loop aims.

The measurement is not trusted when it cannot be: no reading (the meter failed), counters that went
back beyond a plausible wrap, or a rate above 1.5 x capacity (a wrong capacity or a garbled counter).
Then the direction falls back: to the fixed budget when there is one (at most the capacity), else to
the last budget, else to what the line gives without other traffic.

Everything here is pure: the state goes in and comes out, time comes in as numbers.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Tuple

from domain.line.counters import CounterSample, line_rates
from domain.policies import SpeedLimit

NONSENSE_FACTOR = 1.5  # a rate above this x capacity is no line's: the counters or the capacity are wrong
SETTLED_FRACTION = 0.05  # what remains of a step after `window_sec`


@dataclass(frozen=True)
class DirectionSettings:
    """One direction of the line (upload or download), in KiB/s."""

    capacity_kib: int
    headroom: float = 0.1  # the share of the line kept free (0.1 = 10 %)
    floor_kib: int = 1  # never less (at least 1: 0 would read as unlimited)
    window_sec: float = 30.0  # 95 % of a step absorbed within this time; 0 = no smoothing
    deadband_percent: float = 5.0  # of capacity: smaller moves of the budget are held back

    def __post_init__(self) -> None:
        if self.capacity_kib < 1:
            raise ValueError("the line's capacity must be at least 1 KiB/s")
        if not 0 <= self.headroom < 1:
            raise ValueError("the headroom is a share of the line, from 0 up to (not including) 1")
        if not 1 <= self.floor_kib <= self.capacity_kib:
            raise ValueError("the floor must be at least 1 KiB/s and at most the capacity")
        if not (self.window_sec >= 0 and self.deadband_percent >= 0):
            raise ValueError("the smoothing window and the deadband cannot be negative")

    @property
    def nonsense_kib(self) -> float:
        return self.capacity_kib * NONSENSE_FACTOR

    @property
    def band_kib(self) -> float:
        return self.capacity_kib * self.deadband_percent / 100


@dataclass(frozen=True)
class LineSettings:
    upload: DirectionSettings
    download: DirectionSettings


@dataclass(frozen=True)
class DirectionInput:
    """What the rest of the daemon knows this poll about one direction, in KiB/s."""

    clients_kib: float = 0.0  # the download clients' own current rates, added up
    streams_rate_kib: float = 0.0  # what the remote streams move now
    streams_need_kib: float = 0.0  # what they need (with overhead): kept free for them
    fixed_budget: Optional[SpeedLimit] = None  # the policy's budget; None or unlimited = no cap


@dataclass(frozen=True)
class LineInput:
    upload: DirectionInput = DirectionInput()
    download: DirectionInput = DirectionInput()


@dataclass(frozen=True)
class DirectionState:
    other_kib: Optional[float] = None  # the smoothed estimate of the other devices' traffic
    held: Optional[SpeedLimit] = None  # the budget the deadband holds (before the fixed cap)


@dataclass(frozen=True)
class LineState:
    """What one step hands to the next. Start with `LineState()`."""

    sample: Optional[CounterSample] = None  # the baseline the next rates are measured from
    upload: DirectionState = DirectionState()
    download: DirectionState = DirectionState()


@dataclass(frozen=True)
class DirectionBudget:
    """One direction's budget this poll, and how it came about."""

    budget: SpeedLimit
    measured_kib: Optional[float]  # the line's rate since the last sample (None: none this poll)
    other_kib: Optional[float]  # the smoothed other traffic (None: not known yet)
    fallback: Optional[str] = None  # why the measurement was not used (a sentence), None when it was


@dataclass(frozen=True)
class LineStep:
    upload: DirectionBudget
    download: DirectionBudget
    state: LineState  # for the next step
    meter_failure: Optional[str] = None  # the counters made no sense (a sentence); the baseline restarts


def step_line(state: LineState, sample: Optional[CounterSample], inputs: LineInput,
              settings: LineSettings) -> LineStep:
    """One poll of the loop. `sample` is the meter's reading now, None when it could not be read.

    A caller may rely on, in each direction: the budget is never above the fixed budget when one is
    set; never below the floor unless the fixed budget is lower still (then it is the fixed budget);
    never above the capacity; for the same state, never higher when other traffic is higher (among
    plausible measurements); a counter that wraps reads as the traffic it carried, not as a burst.
    """
    rates = None
    failure = None
    next_sample = state.sample
    if sample is not None:
        if state.sample is None:
            next_sample = sample
        else:
            rates = line_rates(state.sample, sample, settings.upload.nonsense_kib, settings.download.nonsense_kib)
            if rates is not None:
                next_sample = sample
                failure = rates.failure
    elapsed = rates.elapsed if rates is not None else 0.0
    no_rate = "the line meter could not be read" if sample is None else failure
    upload_budget, upload_state = _direction(
        state.upload, None if rates is None else rates.sent_kib, elapsed, inputs.upload, settings.upload, no_rate)
    download_budget, download_state = _direction(
        state.download, None if rates is None else rates.received_kib, elapsed, inputs.download, settings.download,
        no_rate)
    new_state = LineState(next_sample, upload_state, download_state)
    return LineStep(upload_budget, download_budget, new_state, failure)


def smoothing_weight(elapsed: float, window_sec: float) -> float:
    """The weight of a new value in the moving average after `elapsed` seconds (1: no smoothing)."""
    if window_sec <= 0:
        return 1.0
    return 1.0 - math.exp(math.log(SETTLED_FRACTION) * elapsed / window_sec)


def aim(settings: DirectionSettings, streams_need_kib: float, other_kib: float) -> float:
    """The budget the loop aims at, before the deadband and the fixed cap: clamped to the line."""
    left = settings.capacity_kib * (1 - settings.headroom) - max(streams_need_kib, 0.0) - max(other_kib, 0.0)
    return min(max(left, float(settings.floor_kib)), float(settings.capacity_kib))


def _direction(state: DirectionState, measured_kib: Optional[float], elapsed: float, given: DirectionInput,
               settings: DirectionSettings, no_rate: Optional[str]) -> Tuple[DirectionBudget, DirectionState]:
    if measured_kib is None and no_rate is None:
        # the first sample, or one taken no later than the last: nothing new is known, the budget holds
        budget = state.held if state.held is not None else _fallback(state, given, settings)
        return DirectionBudget(_cap(budget, given.fixed_budget, settings), None, state.other_kib), state
    fallback = no_rate if measured_kib is None else None  # the other direction's failure is not ours
    if measured_kib is not None and measured_kib > settings.nonsense_kib:
        fallback = "the line meter measured %.0f KiB/s, more than %g x the line's capacity of %d KiB/s" % (
            measured_kib, NONSENSE_FACTOR, settings.capacity_kib)
    if measured_kib is None or fallback is not None:
        budget = _cap(_fallback(state, given, settings), given.fixed_budget, settings)
        return DirectionBudget(budget, measured_kib, state.other_kib, fallback), state
    raw_other = max(measured_kib - max(given.clients_kib, 0.0) - max(given.streams_rate_kib, 0.0), 0.0)
    if state.other_kib is None:
        other = raw_other
    else:
        other = state.other_kib + smoothing_weight(elapsed, settings.window_sec) * (raw_other - state.other_kib)
    held = _deadband(state.held, aim(settings, given.streams_need_kib, other), settings)
    new_state = DirectionState(other_kib=other, held=held)
    return DirectionBudget(_cap(held, given.fixed_budget, settings), measured_kib, other), new_state


def _deadband(held: Optional[SpeedLimit], target_kib: float, settings: DirectionSettings) -> SpeedLimit:
    target = SpeedLimit(max(int(target_kib), 1))
    if held is not None and abs(target_kib - held.kib_per_sec) <= settings.band_kib:
        return held
    return target


def _fallback(state: DirectionState, given: DirectionInput, settings: DirectionSettings) -> SpeedLimit:
    if given.fixed_budget is not None and not given.fixed_budget.unlimited:
        return given.fixed_budget
    if state.held is not None:
        return state.held
    return SpeedLimit(max(int(aim(settings, given.streams_need_kib, 0.0)), 1))


def _cap(budget: SpeedLimit, fixed: Optional[SpeedLimit], settings: DirectionSettings) -> SpeedLimit:
    budget = min(budget, SpeedLimit(settings.capacity_kib))  # a fixed budget above the line falls back to the line
    if fixed is None or fixed.unlimited:
        return budget
    return min(budget, fixed)
