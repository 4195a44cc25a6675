from typing import List, Optional

from hypothesis import assume, given
from hypothesis import strategies as st

from domain.state import Hysteresis, MachineState, StreamingStateMachine, StreamState, TransitionReason

thresholds = st.integers(min_value=1, max_value=6)
# an observation: a remote stream count, or None for "the source could not be read"
observations = st.one_of(st.none(), st.integers(min_value=0, max_value=3))


def run(machine: StreamingStateMachine, steps: List[Optional[int]], start: MachineState = MachineState(), t0: float = 0.0, dt: float = 1.0):
    state, now, trail = start, t0, []
    for step in steps:
        state = machine.fail(state, now) if step is None else machine.observe(state, step)
        trail.append(state)
        now += dt
    return state, trail


@given(st.integers(min_value=0, max_value=5))
def test_first_successful_observation_decides_at_once(count):
    machine = StreamingStateMachine(Hysteresis(streaming_threshold=5, idle_threshold=5))
    after = machine.observe(MachineState(), count)
    assert after.state is (StreamState.STREAMING if count else StreamState.IDLE)
    assert after.last_reason is TransitionReason.FIRST_OBSERVATION


@given(thresholds, thresholds, st.sampled_from(list(StreamState)), st.lists(observations, max_size=30))
def test_no_change_before_the_threshold(n, m, initial, steps):
    machine = StreamingStateMachine(Hysteresis(n, m, down_restore_after_sec=0))
    needed = n if initial is StreamState.IDLE else m
    contrary = [(c is not None and (c > 0) != (initial is StreamState.STREAMING)) for c in steps]
    # the longest run of contrary successful observations, failures neither break nor extend it
    run_len, longest = 0, 0
    for step, is_contrary in zip(steps, contrary):
        if step is None:
            continue
        run_len = run_len + 1 if is_contrary else 0
        longest = max(longest, run_len)
    assume(longest < needed)
    _, trail = run(machine, steps, MachineState(state=initial))
    assert all(s.state is initial for s in trail)


@given(thresholds, thresholds, st.sampled_from(list(StreamState)), st.lists(observations, max_size=10), st.integers(1, 3))
def test_a_run_of_like_observations_forces_the_state(n, m, initial, prefix, count):
    machine = StreamingStateMachine(Hysteresis(n, m, down_restore_after_sec=0))
    state, _ = run(machine, prefix, MachineState(state=initial))
    state, _ = run(machine, [count] * n, state)
    assert state.state is StreamState.STREAMING
    state, _ = run(machine, [0] * m, state)
    assert state.state is StreamState.IDLE


@given(thresholds, thresholds, st.lists(observations, min_size=1, max_size=15))
def test_failures_change_neither_state_nor_counts_before_the_restore_time(n, m, steps):
    machine = StreamingStateMachine(Hysteresis(n, m, down_restore_after_sec=1000))
    state, _ = run(machine, steps)
    failed = machine.fail(state, now=100.0)
    assert failed.state is state.state
    assert failed.contrary_streak == state.contrary_streak


@given(thresholds, thresholds, st.integers(1, 50), st.integers(1, 100))
def test_failing_longer_than_the_restore_time_goes_idle(n, m, restore_after, failures):
    machine = StreamingStateMachine(Hysteresis(n, m, down_restore_after_sec=restore_after))
    state = machine.observe(MachineState(), 2)
    assert state.state is StreamState.STREAMING
    state, trail = run(machine, [None] * failures, state, t0=0.0, dt=1.0)
    # failure k happens at time k-1 and the outage began at time 0
    for k, s in enumerate(trail):
        if k <= restore_after:
            assert s.state is StreamState.STREAMING
        else:
            assert s.state is StreamState.IDLE
            assert trail[restore_after + 1].last_reason is TransitionReason.SOURCE_DOWN


@given(st.integers(1, 100))
def test_restore_after_zero_never_lifts_the_throttle(failures):
    machine = StreamingStateMachine(Hysteresis(1, 1, down_restore_after_sec=0))
    state = machine.observe(MachineState(), 1)
    state, _ = run(machine, [None] * failures, state, dt=1000.0)
    assert state.state is StreamState.STREAMING


def test_unknown_state_goes_idle_when_the_source_never_answers():
    machine = StreamingStateMachine(Hysteresis(down_restore_after_sec=10))
    state, _ = run(machine, [None] * 12, dt=1.0)
    assert state.state is StreamState.IDLE


def test_a_success_ends_the_outage_clock():
    machine = StreamingStateMachine(Hysteresis(1, 5, down_restore_after_sec=10))
    state = machine.observe(MachineState(), 1)
    state = machine.fail(state, 0.0)
    state = machine.observe(state, 1)
    state = machine.fail(state, 9.0)
    state = machine.fail(state, 15.0)
    assert state.state is StreamState.STREAMING


def test_a_contrary_observation_resets_the_count():
    machine = StreamingStateMachine(Hysteresis(streaming_threshold=3, idle_threshold=3))
    state, _ = run(machine, [0, 1, 1, 0, 1, 1])
    assert state.state is StreamState.IDLE
    state, _ = run(machine, [1], state)
    assert state.state is StreamState.STREAMING
