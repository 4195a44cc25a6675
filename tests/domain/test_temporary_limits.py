"""The temporary limit's promises: it is its direction's budget while active, whatever the state;
it ends exactly at its end time, reported once; and through the plan it never raises a client above
the user's own limit."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from domain.limit_plan import Direction, PlannedClient, plan_limits
from domain.overrides import TemporaryLimit, split_expired
from domain.policies import FixedLimitPolicy, SpeedLimit
from domain.sessions import PlaybackSession, RemoteStreamRule
from domain.state import Hysteresis, StreamingStateMachine, StreamState
from domain.throttle import ServerReading, Throttle, ThrottleRules

REMOTE = PlaybackSession(state="playing", local=False, location="wan", user="friend", bandwidth_kbps=8000)
poll = st.lists(st.one_of(st.none(), st.integers(0, 2)), min_size=1, max_size=3)  # None: unreadable


def readings(counts):
    return [ServerReading("s%d" % i, failure="down") if n is None else ServerReading("s%d" % i, (REMOTE,) * n)
            for i, n in enumerate(counts)]


def throttle(policy=None) -> Throttle:
    return Throttle(ThrottleRules(RemoteStreamRule(), StreamingStateMachine(Hysteresis(1, 1, 0.0)),
                                  policy or FixedLimitPolicy(SpeedLimit(0), SpeedLimit(500))))

directions = st.sampled_from(list(Direction))
limits = st.integers(1, 1_000_000).map(SpeedLimit)
walls = st.floats(0, 4e9, allow_nan=False)
own_limits = st.one_of(st.none(), st.integers(0, 100_000).map(SpeedLimit))


@given(directions, limits, walls, st.floats(0.001, 1e6), st.lists(poll, min_size=1, max_size=10))
def test_an_active_temporary_limit_is_its_directions_budget_whatever_the_state(direction, limit, wall, left, polls):
    t = throttle(policy=FixedLimitPolicy(SpeedLimit(0), SpeedLimit(500)))
    t.set_temporary_limit(TemporaryLimit(direction, limit, wall + left, "video call"))
    for now, p in enumerate(polls):
        decision = t.step(readings(p), float(now), wall_now=wall)
        budget = decision.budget if direction is Direction.UPLOAD else decision.download_budget
        assert budget == limit
        assert decision.limits_state is StreamState.STREAMING  # the clients are held, capped at their own
        assert decision.temporary == (TemporaryLimit(direction, limit, wall + left, "video call"),)
        assert not decision.temporary_ended


@given(directions, limits, walls, st.lists(poll, min_size=2, max_size=10))
def test_it_ends_exactly_at_its_end_time_reported_once(direction, limit, until, polls):
    t = throttle()
    temporary = TemporaryLimit(direction, limit, until, "")
    t.set_temporary_limit(temporary)
    before = t.step(readings(polls[0]), 0.0, wall_now=until - max(1e-6, until * 1e-12))
    assert before.temporary == (temporary,) and not before.temporary_ended
    at = t.step(readings(polls[1]), 1.0, wall_now=until)
    assert at.temporary == () and at.temporary_ended == (temporary,)
    assert at.limits_state is at.effective and at.download_budget is None
    for now, p in enumerate(polls[2:], start=2):
        later = t.step(readings(p), float(now), wall_now=until + now)
        assert not later.temporary_ended and not later.temporary


@given(st.lists(st.tuples(directions, limits, walls), max_size=6), walls)
def test_split_expired_keeps_exactly_those_whose_end_is_after_now(items, now):
    found = {d: TemporaryLimit(d, lim, until) for d, lim, until in items}
    active, ended = split_expired(found, now)
    assert set(active) == {d for d, t in found.items() if now < t.until}
    assert set(ended) == {t for t in found.values() if t.until <= now}


@given(
    directions, limits, st.lists(poll, min_size=1, max_size=5),
    st.lists(st.tuples(st.integers(1, 5), own_limits), min_size=1, max_size=5),
)
def test_a_temporary_limit_never_raises_a_client_above_its_own_limit(direction, limit, polls, members):
    t = throttle()
    t.set_temporary_limit(TemporaryLimit(direction, limit, 1e9))
    clients = [PlannedClient("c%d" % i, frozenset(Direction), weight, own={d: own for d in Direction})
               for i, (weight, own) in enumerate(members)]
    for now, p in enumerate(polls):
        decision = t.step(readings(p), float(now), wall_now=0.0)
        plan = plan_limits(decision.limits_state is StreamState.STREAMING,
                           {Direction.UPLOAD: decision.budget, Direction.DOWNLOAD: decision.download_budget},
                           {}, clients)
        for client in clients:
            target = plan.target(client.name, direction)
            cap = client.cap(direction)
            if target is not None and cap is not None:
                assert target.limit.kib_per_sec <= cap and not target.limit.unlimited
            if target is not None and not target.own:
                assert 1 <= target.limit.kib_per_sec <= limit.kib_per_sec or len(clients) > limit.kib_per_sec


def test_a_temporary_limit_is_a_limit_with_a_short_label():
    import pytest

    with pytest.raises(ValueError):
        TemporaryLimit(Direction.UPLOAD, SpeedLimit(0), 1.0)
    with pytest.raises(ValueError):
        TemporaryLimit(Direction.UPLOAD, SpeedLimit(5), 1.0, "x" * 81)
