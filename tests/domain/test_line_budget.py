"""The measured line's loop: counters to rates (wraps, resets) and rates to a budget, checked against
what `domain.line.budget` and `domain.line.counters` promise."""
from __future__ import annotations

from typing import List, Optional

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.line.budget import (
    DirectionInput, DirectionSettings, DirectionState, LineInput, LineSettings, LineState, aim, smoothing_weight,
    step_line,
)
from domain.line.counters import CounterSample, LineCounters, counter_delta, line_rates
from domain.policies import SpeedLimit

CAP = 5000  # KiB/s


def settings(capacity: int = CAP, floor: int = 50, window: float = 30.0, band: float = 5.0,
             headroom: float = 0.1) -> LineSettings:
    one = DirectionSettings(capacity, headroom=headroom, floor_kib=floor, window_sec=window, deadband_percent=band)
    return LineSettings(one, one)


def sample(at: float, sent: int, received: int, bits: int = 64) -> CounterSample:
    return CounterSample(at, LineCounters(sent % 2 ** bits, received % 2 ** bits, bits, bits))


def both(given_: DirectionInput) -> LineInput:
    return LineInput(given_, given_)


def run(totals: List[int], poll: float, config: LineSettings, inputs: LineInput, bits: int = 64,
        state: Optional[LineState] = None) -> List:
    """Steps the loop over cumulative byte totals (both directions alike), one poll apart."""
    state = state or LineState()
    steps = []
    for i, total in enumerate(totals):
        result = step_line(state, sample(i * poll, total, total, bits), inputs, config)
        state = result.state
        steps.append(result)
    return steps


# ---------------------------------------------------------------------------------------- counters

@given(st.integers(0, 2 ** 32 - 1), st.integers(0, 2 ** 32 - 1), st.floats(0.5, 60))
def test_a_32_bit_wrap_is_the_traffic_it_carried_not_a_burst(start, moved, elapsed):
    """Any counter start and any amount the line could carry in the time: the rate is that amount."""
    max_kib = 1_000_000
    assume(moved <= max_kib * 1024 * elapsed)
    before = CounterSample(0.0, LineCounters(start, start, 32, 32))
    after = CounterSample(elapsed, LineCounters((start + moved) % 2 ** 32, (start + moved) % 2 ** 32, 32, 32))
    rates = line_rates(before, after, max_kib, max_kib)
    if start + moved >= 2 ** 32 and start < 2 ** 31 and (start + moved) % 2 ** 32 < 2 ** 31:
        # also fits a counter wrapping at 2^31: the smaller reading wins, and it is never larger
        assert rates.sent_kib <= moved / 1024 / elapsed + 1e-9
    else:
        assert rates.sent_kib == pytest.approx(moved / 1024 / elapsed)
    assert rates.failure is None


@given(st.integers(0, 2 ** 31 - 1), st.integers(0, 2 ** 31 - 1))
def test_a_counter_wrapping_at_2_31_reads_as_its_traffic(start, moved):
    delta = counter_delta(start, (start + moved) % 2 ** 31, 32, max_bytes=2 ** 31)
    assert delta.bytes == moved


@given(st.integers(1, 2 ** 64 - 1), st.data())
def test_a_64_bit_counter_going_back_is_a_failure(previous, data):
    current = data.draw(st.integers(0, previous - 1))
    delta = counter_delta(previous, current, 64, max_bytes=10 ** 30)
    assert delta.bytes is None and "went back" in delta.failure


def test_a_32_bit_counter_going_back_further_than_the_line_carries_is_a_failure():
    # 3 GiB back within 10 s on a 5000 KiB/s line: a reset (the router rebooted), not a wrap
    assert counter_delta(3 * 2 ** 30, 10, 32, max_bytes=5000 * 1024 * 10 * 1.5).failure is not None


def test_switching_counter_widths_gives_no_rate():
    rates = line_rates(sample(0, 100, 100, 64), sample(10, 200, 200, 32), CAP, CAP)
    assert rates.sent_kib is None and "switched" in rates.failure


def test_no_rate_without_time_passing():
    assert line_rates(sample(5, 100, 100), sample(5, 900, 900), CAP, CAP) is None


@pytest.mark.parametrize("sent, bits", [(-1, 64), (2 ** 32, 32), (0, 16)])
def test_counters_refuse_what_their_width_cannot_hold(sent, bits):
    with pytest.raises(ValueError):
        LineCounters(sent, 0, bits, 64)


# ---------------------------------------------------------------------------------------- the budget

rates_kib = st.floats(0, CAP * 1.5, allow_nan=False)
inputs = st.builds(
    DirectionInput,
    clients_kib=st.floats(0, CAP * 2, allow_nan=False),
    streams_rate_kib=st.floats(0, CAP, allow_nan=False),
    streams_need_kib=st.floats(0, CAP * 2, allow_nan=False),
    fixed_budget=st.one_of(st.none(), st.integers(0, CAP * 2).map(SpeedLimit)),
)
states = st.builds(
    LineState,
    upload=st.builds(
        DirectionState,
        other_kib=st.one_of(st.none(), st.floats(0, CAP * 1.5)),
        held=st.one_of(st.none(), st.integers(50, CAP).map(SpeedLimit)),
    ),
)


def one_step(state: LineState, rate_kib: float, given_: DirectionInput, config: LineSettings,
             elapsed: float = 10.0):
    start = state.sample or sample(0.0, 10 ** 9, 10 ** 9)
    state = LineState(start, state.upload, state.upload)
    moved = int(rate_kib * 1024 * elapsed)
    now = sample(start.at + elapsed, start.counters.bytes_sent + moved, start.counters.bytes_received + moved)
    return step_line(state, now, both(given_), config).upload


@given(states, rates_kib, inputs, st.floats(0, 120))
def test_never_above_the_fixed_budget_never_below_the_floor_never_above_capacity(state, rate, given_, elapsed):
    config = settings()
    budget = one_step(state, rate, given_, config, elapsed).budget
    fixed = given_.fixed_budget
    if fixed is not None and not fixed.unlimited:
        assert budget <= fixed
        assert budget.kib_per_sec >= min(50, fixed.kib_per_sec)
    else:
        assert budget.kib_per_sec >= 50
    assert budget.kib_per_sec <= CAP


@given(states, rates_kib, rates_kib, inputs, st.floats(0.1, 120))
def test_more_other_traffic_never_raises_the_budget(state, rate_a, rate_b, given_, elapsed):
    low, high = sorted((rate_a, rate_b))
    config = settings()
    assert one_step(state, low, given_, config, elapsed).budget >= one_step(state, high, given_, config, elapsed).budget


@given(st.floats(0, CAP * 1.4), st.floats(CAP * 1.5 + 1, CAP * 100), inputs)
def test_a_rate_beyond_any_line_falls_back_to_the_fixed_budget(plausible, absurd, given_):
    assume(given_.fixed_budget is not None and not given_.fixed_budget.unlimited)
    config = settings()
    before = one_step(LineState(), plausible, given_, config)
    result = one_step(LineState(), absurd, given_, config)
    assert result.budget == min(given_.fixed_budget, SpeedLimit(CAP))
    assert "more than 1.5 x" in result.fallback
    assert before.fallback is None


@given(st.integers(0, 2 ** 32 - 1), st.floats(0, CAP * 0.9), st.integers(3, 12))
def test_a_wrap_reads_like_the_same_traffic_on_a_64_bit_counter(start, rate, polls):
    """The budgets of a 32-bit meter that wraps equal those of a 64-bit one seeing the same bytes."""
    per_poll = int(rate * 1024 * 10)
    totals = [start + i * per_poll for i in range(polls)]
    given_ = both(DirectionInput(clients_kib=rate / 3))
    wrapped = run(totals, 10.0, settings(), given_, bits=32)
    wide = run(totals, 10.0, settings(), given_, bits=64)
    assert [s.upload.budget for s in wrapped] == [s.upload.budget for s in wide]
    assert all(s.meter_failure is None for s in wrapped)


@given(st.floats(0, CAP), st.floats(0, CAP), st.floats(1, 30), st.floats(0.1, 1.0), st.floats(0, 10))
def test_a_step_change_settles_by_the_third_poll_when_the_window_is_three_polls_or_less(
        before, after, poll, window_share, band):
    """95 % of a step in other traffic is absorbed by the third poll; the deadband may hold the budget
    that far from where the loop aims, and the budget moves only towards the new value (no overshoot)."""
    config = settings(window=3 * poll * window_share, band=band)
    one = config.upload
    rates = [before] * 30 + [after] * 10
    totals = [0]
    for rate in rates[1:]:
        totals.append(totals[-1] + int(rate * 1024 * poll))
    steps = run(totals, poll, config, both(DirectionInput()))
    old = steps[29].upload.budget.kib_per_sec
    target = aim(one, 0.0, after)
    step_size = abs(after - before)  # what is left is 5 % of the step in other traffic (before the clamp)
    lo, hi = sorted((old, target))
    for k, result in enumerate(steps[30:], 1):
        budget = result.upload.budget.kib_per_sec
        assert lo - 1 <= budget <= hi + 1  # on the way, never past it
        if k >= 3:
            assert abs(budget - target) <= one.band_kib + 0.05 * step_size + 2


def test_smoothing_weight_absorbs_95_percent_within_the_window():
    assert 1 - (1 - smoothing_weight(10, 30)) ** 3 == pytest.approx(0.95)
    assert smoothing_weight(10, 0) == 1.0


def test_the_formula_on_numbers():
    """5000 x 0.9 = 4500; the streams need 1000; the line carries 3000 of which the clients 1500 and
    the streams 800: other devices 700. 4500 - 1000 - 700 = 2800."""
    config = settings(window=0, band=0)
    given_ = DirectionInput(clients_kib=1500, streams_rate_kib=800, streams_need_kib=1000)
    result = one_step(LineState(), 3000, given_, config)
    assert result.other_kib == pytest.approx(700, abs=0.01)
    assert result.budget == SpeedLimit(2800)


def test_the_first_sample_gives_the_fixed_budget_and_no_failure():
    first = step_line(LineState(), sample(0, 5, 5), both(DirectionInput(fixed_budget=SpeedLimit(900))), settings())
    assert first.upload.budget == SpeedLimit(900) and first.upload.fallback is None and first.meter_failure is None


def test_a_failed_reading_falls_back_and_keeps_the_baseline():
    config = settings(window=0, band=0)
    given_ = both(DirectionInput(fixed_budget=SpeedLimit(1200)))
    state = run([0, 1024 * 1000 * 10], 10.0, config, given_)[-1].state
    failed = step_line(state, None, given_, config)
    assert failed.upload.budget == SpeedLimit(1200)
    assert failed.upload.fallback == "the line meter could not be read"
    assert failed.state.sample == state.sample
    later = step_line(failed.state, sample(30, 1024 * 1000 * 30, 1024 * 1000 * 30), given_, config)
    assert later.upload.measured_kib == pytest.approx(1000)


def test_a_reset_counter_is_a_meter_failure_and_the_baseline_restarts():
    config = settings()
    given_ = both(DirectionInput())
    state = run([10 ** 12, 10 ** 12 + 10 ** 6], 10.0, config, given_)[-1].state
    reset = step_line(state, sample(20, 500, 500), given_, config)
    assert "went back" in reset.meter_failure and reset.upload.fallback == reset.meter_failure
    assert reset.upload.budget == state.upload.held  # no fixed budget: the last one holds
    assert reset.state.sample.counters.bytes_sent == 500


def test_one_direction_failing_leaves_the_other_measured():
    config = settings(window=0, band=0)
    state = step_line(LineState(), sample(0, 10 ** 12, 10 ** 6), both(DirectionInput()), config).state
    now = CounterSample(10, LineCounters(5, 10 ** 6 + 1024 * 1000 * 10))
    result = step_line(state, now, both(DirectionInput()), config)
    assert result.upload.fallback is not None
    assert result.download.fallback is None and result.download.measured_kib == pytest.approx(1000)


def test_directions_are_independent():
    up = DirectionSettings(1000, floor_kib=10, window_sec=0, deadband_percent=0)
    down = DirectionSettings(10000, floor_kib=10, window_sec=0, deadband_percent=0)
    config = LineSettings(up, down)
    state = step_line(LineState(), sample(0, 0, 0), LineInput(), config).state
    result = step_line(state, CounterSample(10, LineCounters(1024 * 500 * 10, 1024 * 2000 * 10)), LineInput(), config)
    assert result.upload.budget == SpeedLimit(400)  # 900 - 500
    assert result.download.budget == SpeedLimit(7000)  # 9000 - 2000


def test_settings_refuse_what_makes_no_sense():
    with pytest.raises(ValueError):
        DirectionSettings(0)
    with pytest.raises(ValueError):
        DirectionSettings(100, headroom=1.0)
    with pytest.raises(ValueError):
        DirectionSettings(100, floor_kib=0)
