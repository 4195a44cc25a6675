from hypothesis import given
from hypothesis import strategies as st

from domain.policies import FixedLimitPolicy, SpeedLimit
from domain.state import StreamState
from tests.domain.strategies import sessions

kib = st.integers(min_value=0, max_value=10_000_000)


@given(kib, kib, st.sampled_from(list(StreamState)), st.lists(sessions, max_size=5))
def test_fixed_policy_limit_belongs_to_the_state(idle, streaming, state, remote):
    policy = FixedLimitPolicy(SpeedLimit(idle), SpeedLimit(streaming))
    expected = streaming if state is StreamState.STREAMING else idle
    assert policy.limit_for(state, remote) == SpeedLimit(expected)
    assert policy.idle_limit == SpeedLimit(idle)


@given(kib)
def test_kib_to_bytes_and_back(value):
    limit = SpeedLimit(value)
    assert limit.bytes_per_sec == value * 1024
    assert SpeedLimit.from_bytes(limit.bytes_per_sec) == limit


@given(st.integers(min_value=-5, max_value=10**9))
def test_from_bytes_follows_qbittorrents_storage(raw):
    limit = SpeedLimit.from_bytes(raw)
    if raw <= 0:
        assert limit.unlimited
    elif raw <= 1024:
        assert limit.kib_per_sec == 1
    else:
        assert limit.kib_per_sec == raw // 1024


def test_str():
    assert str(SpeedLimit(0)) == "unlimited"
    assert str(SpeedLimit(500)) == "500 KiB/s"
