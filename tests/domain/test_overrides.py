from hypothesis import given
from hypothesis import strategies as st

from domain.overrides import FlapGuard, Override, effective_state
from domain.state import StreamState

states = st.sampled_from(list(StreamState))
maybe_states = st.one_of(st.none(), states)
times = st.floats(0, 1e9, allow_nan=False)


@given(maybe_states, states, times, st.floats(0.001, 1e6))
def test_an_active_override_wins(machine, forced, now, minutes_left):
    assert effective_state(machine, Override(forced, now + minutes_left), now) is forced


@given(maybe_states, states, times, st.floats(0, 1e6))
def test_an_expired_override_gives_way_to_the_machine(machine, forced, now, ago):
    assert effective_state(machine, Override(forced, now - ago), now) is machine
    assert effective_state(machine, None, now) is machine


@given(st.integers(1, 10), st.lists(st.floats(0, 10_000), max_size=30), st.floats(0, 10_000))
def test_flap_guard_holds_idle_only_beyond_the_limit(limit, history, now):
    guard = FlapGuard(limit)
    recent = [t for t in history if now - t < 3600]
    assert guard.holds(StreamState.IDLE, history, now) == (len(recent) >= limit)
    assert not guard.holds(StreamState.STREAMING, history, now)


@given(st.lists(st.floats(0, 10_000), max_size=30), st.floats(0, 10_000))
def test_flap_guard_off_by_default(history, now):
    assert not FlapGuard().holds(StreamState.IDLE, history, now)
