"""allocate: one budget shared by weight, the floor kept, fixed limits kept, rebalance by activity."""
from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from domain.allocation import ClientShare, allocate
from domain.policies import SpeedLimit

budgets = st.integers(0, 1_000_000).map(SpeedLimit)
floors = st.integers(1, 100)


@st.composite
def clients(draw, min_size=1, max_size=5):
    count = draw(st.integers(min_size, max_size))
    out = []
    for index in range(count):
        fixed = draw(st.one_of(st.none(), st.integers(0, 10_000).map(SpeedLimit)))
        out.append(ClientShare("c%d" % index, weight=draw(st.integers(1, 10)), fixed=fixed))
    return out


def weighted(cs):
    return [c for c in cs if c.fixed is None]


@given(budgets, clients(), floors)
def test_every_client_gets_a_share_and_fixed_limits_are_kept(budget, cs, floor):
    shares = allocate(budget, cs, floor)
    assert set(shares) == {c.name for c in cs}
    for c in cs:
        if c.fixed is not None:
            assert shares[c.name] == c.fixed


@given(budgets, clients(), floors)
def test_shares_never_sum_to_more_than_the_budget_when_it_can_give_everyone_the_floor(budget, cs, floor):
    assume(not budget.unlimited)
    fixed = sum(c.fixed.kib_per_sec for c in cs if c.fixed is not None)
    assume(all(c.fixed is None or not c.fixed.unlimited for c in cs))
    assume(budget.kib_per_sec - fixed >= floor * len(weighted(cs)))
    shares = allocate(budget, cs, floor)
    assert sum(s.kib_per_sec for s in shares.values()) <= budget.kib_per_sec


@given(budgets, clients(), floors)
def test_no_share_is_below_the_floor_or_unlimited_when_a_limit_is_meant(budget, cs, floor):
    assume(not budget.unlimited)
    shares = allocate(budget, cs, floor)
    for c in weighted(cs):
        assert shares[c.name].kib_per_sec >= floor and not shares[c.name].unlimited


@given(clients())
def test_an_unlimited_budget_leaves_the_weighted_clients_unlimited(cs):
    shares = allocate(SpeedLimit(0), cs)
    assert all(shares[c.name].unlimited for c in weighted(cs))


@given(budgets, st.integers(1, 6), st.integers(1, 10), floors)
def test_equal_weights_give_equal_shares(budget, count, weight, floor):
    cs = [ClientShare("c%d" % i, weight=weight) for i in range(count)]
    assert len(set(allocate(budget, cs, floor).values())) == 1


def test_weights_two_to_one():
    shares = allocate(SpeedLimit(900), [ClientShare("a", 2), ClientShare("b", 1)])
    assert shares == {"a": SpeedLimit(600), "b": SpeedLimit(300)}


def test_a_fixed_limit_is_taken_out_before_the_split():
    shares = allocate(SpeedLimit(1000), [ClientShare("a"), ClientShare("b"), ClientShare("vpn", fixed=SpeedLimit(200))])
    assert shares == {"a": SpeedLimit(400), "b": SpeedLimit(400), "vpn": SpeedLimit(200)}


@given(budgets, clients(min_size=2), floors, st.data())
def test_rebalance_never_exceeds_the_budget_nor_goes_below_the_floor(budget, cs, floor, data):
    assume(not budget.unlimited)
    assume(all(c.fixed is None for c in cs))
    activity = {c.name: data.draw(st.booleans()) for c in cs}
    assume(budget.kib_per_sec >= floor * len(cs) * 10)
    shares = allocate(budget, cs, floor, activity=activity)
    assert sum(s.kib_per_sec for s in shares.values()) <= budget.kib_per_sec
    assert all(s.kib_per_sec >= floor for s in shares.values())
    for c in cs:
        if not activity[c.name] and any(activity.values()):
            plain = allocate(budget, cs, floor)[c.name]
            assert shares[c.name].kib_per_sec <= max(floor, plain.kib_per_sec)


@given(budgets, clients(min_size=2), floors, st.booleans())
def test_equal_activity_gives_the_weighted_split(budget, cs, floor, active):
    activity = {c.name: active for c in cs}
    assert allocate(budget, cs, floor, activity=activity) == allocate(budget, cs, floor)
