"""Throttle.step: the decision's promises, over generated sequences of readings of several servers."""
from __future__ import annotations

from typing import List, Optional, Sequence

from hypothesis import given
from hypothesis import strategies as st

from domain.overrides import FlapGuard, Override
from domain.policies import Deadband, DynamicLimitPolicy, FixedLimitPolicy, SpeedLimit
from domain.sessions import PlaybackSession, RemoteStreamRule
from domain.state import Hysteresis, StreamingStateMachine, StreamState
from domain.throttle import ServerReading, Throttle, ThrottleRules, weigh

REMOTE = PlaybackSession(state="playing", local=False, location="wan", user="friend", bandwidth_kbps=8000)
LOCAL = PlaybackSession(state="playing", local=True, location="lan", user="owner")
SERVERS = ("plex", "jellyfin", "emby")

# one server's reading: None = unreadable, else the number of remote sessions (with a local one)
server_reading = st.one_of(st.none(), st.integers(0, 2))
poll = st.lists(server_reading, min_size=1, max_size=3)


def readings(poll_: Sequence[Optional[int]]) -> List[ServerReading]:
    out = []
    for name, remote in zip(SERVERS, poll_):
        if remote is None:
            out.append(ServerReading(name, failure="down"))
        else:
            out.append(ServerReading(name, sessions=(LOCAL,) + (REMOTE,) * remote))
    return out


def throttle(n: int = 1, m: int = 1, restore_after: float = 0.0, policy=None, **rules) -> Throttle:
    return Throttle(ThrottleRules(
        rule=RemoteStreamRule(),
        machine=StreamingStateMachine(Hysteresis(n, m, restore_after)),
        policy=policy or FixedLimitPolicy(SpeedLimit(0), SpeedLimit(500)),
        **rules,
    ))


@given(poll)
def test_evidence_rule_for_many_servers(poll_):
    evidence = weigh(readings(poll_), RemoteStreamRule())
    any_remote = any(r for r in poll_ if r)
    any_down = any(r is None for r in poll_)
    assert (len(evidence.remote) > 0) == bool(any_remote)  # a remote stream on any server counts
    assert evidence.failed == (not any_remote and any_down)  # unreadable and none remote: no evidence
    assert all(s.server == "" or s.server in SERVERS for s in evidence.remote)


@given(st.integers(1, 4), st.integers(1, 4), st.lists(poll, max_size=40))
def test_budget_is_the_policys_limit_for_the_state_after_every_step(n, m, polls):
    policy = FixedLimitPolicy(SpeedLimit(0), SpeedLimit(500))
    t = throttle(n, m, policy=policy)
    for now, p in enumerate(polls):
        decision = t.step(readings(p), float(now), 0.0)
        if decision.after.state is None:
            assert decision.budget is None
        else:
            assert decision.budget == policy.limit_for(decision.after.state, decision.remote)


@given(st.integers(1, 4), st.integers(1, 4), st.lists(poll, max_size=40))
def test_hysteresis_switches_only_after_a_run_of_counted_contrary_observations(n, m, polls):
    t = throttle(n, m)
    run = 0
    for now, p in enumerate(polls):
        before = t.state.state
        decision = t.step(readings(p), float(now), 0.0)
        evidence = weigh(readings(p), RemoteStreamRule())
        if evidence.failed:
            assert decision.after.state is before  # failures hold the state (no restore here)
            continue
        contrary = before is not None and (len(evidence.remote) > 0) != (before is StreamState.STREAMING)
        run = run + 1 if contrary else 0
        if before is None:
            assert decision.after.state is not None  # the first observation decides at once
        elif decision.after.state is not before:
            needed = n if before is StreamState.IDLE else m
            assert run >= needed
            run = 0


@given(st.integers(2, 4), st.lists(st.tuples(st.integers(0, 2), st.floats(0, 10)), max_size=30))
def test_triggered_observations_sooner_than_half_an_interval_advance_no_streak(n, polls):
    t = throttle(n, n, min_count_interval_sec=5.0)
    t.step(readings([0]), 0.0, 0.0)  # idle, counted at 0
    now = 0.0
    for remote, gap in polls:
        now += min(gap, 4.9)
        before = t.state
        decision = t.step(readings([remote]), now, 0.0, triggered=True)
        if not decision.counted:
            assert decision.after.state is before.state
            assert decision.after.contrary_streak in (0, before.contrary_streak)


@given(st.integers(1, 3), st.floats(1, 100), st.integers(1, 50))
def test_failing_longer_than_the_restore_time_goes_idle(n, restore_after, failures):
    t = throttle(n, n, restore_after=restore_after)
    t.step(readings([1]), 0.0, 0.0)
    assert t.state.state is StreamState.STREAMING
    now = 0.0
    for _ in range(failures):
        now += restore_after / 10
        decision = t.step(readings([None, 0]), now, 0.0)  # one server down, the other idle
    expected = StreamState.IDLE if now - restore_after / 10 > restore_after else StreamState.STREAMING
    assert decision.after.state is expected


@given(st.sampled_from(list(StreamState)), st.lists(poll, min_size=1, max_size=20), st.floats(1, 1e6))
def test_an_active_override_decides_the_effective_state_and_its_end_gives_way(forced, polls, minutes):
    t = throttle()
    t.set_override(Override(forced, until=1000.0))
    for now, p in enumerate(polls):
        decision = t.step(readings(p), float(now), wall_now=999.0)
        assert decision.effective is forced and decision.override is not None
    decision = t.step(readings(polls[-1]), 99.0, wall_now=1000.0)
    assert decision.override_expired is not None and decision.effective is decision.after.state


@given(st.integers(1, 6), st.lists(st.booleans(), max_size=60))
def test_flap_guard_switches_to_idle_only_while_under_its_limit_within_the_hour(limit, polls):
    t = throttle(flap_guard=FlapGuard(max_per_hour=limit))
    switches = 0  # all within one hour: the polls are a second apart
    for now, streaming in enumerate(polls):
        decision = t.step(readings([1 if streaming else 0]), float(now), 0.0)
        if decision.flap_held:
            assert decision.after.state is StreamState.STREAMING and switches >= limit
        if decision.state_changed and decision.before.state is not None:
            if decision.after.state is StreamState.IDLE:
                assert switches < limit
            switches += 1


@given(st.lists(st.integers(0, 5), min_size=2, max_size=30), st.floats(0, 50))
def test_the_deadband_holds_the_budget_only_within_the_band_and_never_across_a_state_change(streams, percent):
    policy = DynamicLimitPolicy(idle=SpeedLimit(0), capacity_kib=4000, floor_kib=50)
    t = throttle(policy=policy, deadband=Deadband(percent))
    held: Optional[SpeedLimit] = None
    for now, count in enumerate(streams):
        decision = t.step([ServerReading("plex", sessions=(REMOTE,) * count)], float(now), 0.0)
        if decision.changed or held is None:
            assert decision.budget == decision.desired
        elif decision.budget != decision.desired:
            assert decision.budget == held
            assert not Deadband(percent).worth_applying(held, decision.desired)
        held = decision.budget


def test_an_unreadable_server_holds_the_throttle_while_another_streams_nothing():
    t = throttle()
    t.step(readings([1, 0]), 0.0, 0.0)
    assert t.step(readings([None, 0]), 1.0, 0.0).after.state is StreamState.STREAMING  # held
    assert t.step(readings([None, 1]), 2.0, 0.0).after.state is StreamState.STREAMING  # evidence
    assert t.step(readings([0, 0]), 3.0, 0.0).after.state is StreamState.IDLE


def test_forget_budget_applies_the_policy_as_it_is():
    policy = DynamicLimitPolicy(idle=SpeedLimit(0), capacity_kib=4000, floor_kib=50)
    t = throttle(policy=policy, deadband=Deadband(50))
    first = t.step([ServerReading("plex", sessions=(REMOTE,))], 0.0, 0.0).budget
    assert t.step([ServerReading("plex", sessions=(REMOTE, REMOTE))], 1.0, 0.0).budget == first
    t.forget_budget()
    assert t.step([ServerReading("plex", sessions=(REMOTE, REMOTE))], 2.0, 0.0).budget != first
