from hypothesis import given, strategies as st

from adapters.clients.login_gate import LoginGate
from tests.support.clock import ManualClock


def test_a_failure_holds_logins_back_for_the_retry_time_then_allows_one():
    clock = ManualClock(0.0)
    gate = LoginGate(300, clock)
    assert gate.held_back() is None
    gate.failed("wrong password")
    clock.now = 13.2
    assert gate.held_back() == "the last login failed (wrong password); next attempt in 287 s"
    clock.now = 300
    assert gate.held_back() is None
    gate.succeeded()
    assert gate.held_back() is None


@given(st.floats(min_value=1, max_value=86400), st.floats(min_value=0, max_value=1e6))
def test_never_more_than_one_attempt_per_retry_time(retry, elapsed):
    clock = ManualClock(0.0)
    gate = LoginGate(retry, clock)
    gate.failed("x")
    clock.now = elapsed
    assert (gate.held_back() is None) == (elapsed >= retry)
