"""Properties of the tiered and dynamic policies and of the deadband."""
from hypothesis import assume, given
from hypothesis import strategies as st

from domain.policies import (
    KIB_PER_KBIT,
    MAX_SESSION_KBPS,
    Deadband,
    DynamicLimitPolicy,
    StreamTier,
    TieredLimitPolicy,
    SpeedLimit,
)
from domain.sessions import PlaybackSession
from domain.state import StreamState
from tests.domain.strategies import sessions

limits = st.integers(min_value=0, max_value=1_000_000).map(SpeedLimit)
tier_lists = st.lists(
    st.tuples(st.integers(1, 20), st.integers(0, 100_000)), min_size=1, max_size=6, unique_by=lambda t: t[0]
).map(lambda ts: tuple(StreamTier(n, SpeedLimit(k)) for n, k in ts))


def streams(*bandwidths):
    return [PlaybackSession(state="playing", local=False, location="wan", bandwidth_kbps=b) for b in bandwidths]


@given(limits, tier_lists, st.lists(sessions, max_size=25))
def test_tiers_pick_the_largest_tier_not_above_the_count(idle, tiers, remote):
    policy = TieredLimitPolicy(idle, tiers)
    chosen = policy.limit_for(StreamState.STREAMING, remote)
    eligible = [t for t in tiers if t.streams <= len(remote)]
    if eligible:
        assert chosen == max(eligible, key=lambda t: t.streams).limit
    else:
        assert chosen == min(tiers, key=lambda t: t.streams).limit


@given(limits, tier_lists, st.lists(sessions, max_size=5))
def test_idle_always_gives_the_idle_limit(idle, tiers, remote):
    assert TieredLimitPolicy(idle, tiers).limit_for(StreamState.IDLE, remote) == idle
    assert DynamicLimitPolicy(idle, capacity_kib=1000).limit_for(StreamState.IDLE, remote) == idle


def test_tiers_example():
    policy = TieredLimitPolicy(SpeedLimit(0), (StreamTier(1, SpeedLimit(800)), StreamTier(3, SpeedLimit(200)), StreamTier(2, SpeedLimit(500))))
    assert [policy.limit_for(StreamState.STREAMING, streams(*[1000] * n)).kib_per_sec for n in range(6)] == [800, 800, 500, 200, 200, 200]


dynamic_policies = st.builds(
    DynamicLimitPolicy,
    idle=limits,
    capacity_kib=st.integers(1, 200_000),
    overhead_factor=st.floats(1.0, 3.0),
    floor_kib=st.integers(1, 5000),
)
bandwidths = st.lists(st.integers(-10, 20_000_000), max_size=12)


@given(dynamic_policies, bandwidths)
def test_dynamic_limit_is_never_zero_or_negative_while_streaming(policy, bws):
    limit = policy.limit_for(StreamState.STREAMING, streams(*bws))
    assert limit.kib_per_sec >= 1 and not limit.unlimited
    assert limit.kib_per_sec >= policy.floor_kib


@given(dynamic_policies, bandwidths, st.integers(0, 20_000_000))
def test_dynamic_limit_is_monotone_non_increasing_in_bandwidth(policy, bws, extra):
    before = policy.limit_for(StreamState.STREAMING, streams(*bws))
    after_more_streams = policy.limit_for(StreamState.STREAMING, streams(*bws, extra))
    assert after_more_streams <= before
    if bws:
        bumped = [bws[0] + extra] + bws[1:]
        assert policy.limit_for(StreamState.STREAMING, streams(*bumped)) <= before


@given(st.integers(1, 100_000), st.lists(st.integers(0, MAX_SESSION_KBPS), max_size=5))
def test_dynamic_limit_formula(capacity, bws):
    policy = DynamicLimitPolicy(SpeedLimit(0), capacity_kib=capacity, overhead_factor=1.2, floor_kib=1)
    need = sum(bws) * KIB_PER_KBIT * 1.2
    assert policy.limit_for(StreamState.STREAMING, streams(*bws)).kib_per_sec == max(1, int(capacity - need))


def test_absurd_bandwidth_is_clamped():
    policy = DynamicLimitPolicy(SpeedLimit(0), capacity_kib=50_000, overhead_factor=1.0, floor_kib=5)
    sane = policy.limit_for(StreamState.STREAMING, streams(MAX_SESSION_KBPS))
    assert policy.limit_for(StreamState.STREAMING, streams(10_000_000)) == sane
    # 8000 kbit/s (a 1080p transcode) needs 976.5 KiB/s
    assert policy.limit_for(StreamState.STREAMING, streams(8000)) == SpeedLimit(49_023)


@given(st.floats(0, 100), limits, limits)
def test_deadband_never_hides_a_change_larger_than_its_width(percent, enforced, desired):
    band = Deadband(percent)
    moved = abs(desired.kib_per_sec - enforced.kib_per_sec)
    if enforced.unlimited != desired.unlimited or moved * 100 > enforced.kib_per_sec * percent:
        assert band.worth_applying(enforced, desired)


@given(st.floats(0, 100), limits)
def test_deadband_never_applies_the_same_limit(percent, limit):
    assert not Deadband(percent).worth_applying(limit, limit)
    assert Deadband(percent).worth_applying(None, limit)


@given(st.floats(0.1, 100), st.integers(1, 100_000), st.integers(0, 100_000))
def test_deadband_holds_changes_within_the_band(percent, enforced, change):
    assume(change * 100 <= enforced * percent and change > 0)
    assert not Deadband(percent).worth_applying(SpeedLimit(enforced), SpeedLimit(enforced + change))
