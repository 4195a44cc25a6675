"""plan_limits: the budget shared by weight and fixed shares, never above the user's own limit, what
that leaves unused shared again; idle is the user's own limit (or the configured idle limit)."""
from __future__ import annotations

from dataclasses import replace
from typing import Dict, List, Optional

from hypothesis import assume, given
from hypothesis import strategies as st

from domain.allocation import ClientShare, allocate
from domain.limit_plan import ACTIVE_KIB, Direction, LimitPlan, PlannedClient, Target, plan_limits, uploading
from domain.policies import SpeedLimit

UP, DOWN = Direction.UPLOAD, Direction.DOWNLOAD

real_budgets = st.integers(1, 20_000).map(SpeedLimit)
any_budgets = st.one_of(st.none(), st.just(SpeedLimit(0)), real_budgets)
own_limits = st.one_of(st.none(), st.just(SpeedLimit(0)), st.integers(1, 10_000).map(SpeedLimit))
floors = st.integers(1, 50)
rates = st.one_of(st.none(), st.integers(0, 3 * ACTIVE_KIB).map(SpeedLimit))


@st.composite
def clients(draw, min_size=1, max_size=5, fixed=True) -> List[PlannedClient]:
    out = []
    for index in range(draw(st.integers(min_size, max_size))):
        directions = draw(st.frozensets(st.sampled_from(list(Direction)), min_size=1))
        out.append(PlannedClient(
            "c%d" % index,
            directions,
            weight=draw(st.integers(1, 10)),
            fixed=draw(st.one_of(st.none(), st.integers(0, 5_000).map(SpeedLimit))) if fixed else None,
            own={d: draw(own_limits) for d in directions},
            upload_rate=draw(rates),
        ))
    return out


def streaming(budget: Optional[SpeedLimit], cs: List[PlannedClient], d: Direction = UP, **kw) -> LimitPlan:
    return plan_limits(True, {d: budget}, {}, cs, **kw)


def members(cs: List[PlannedClient], d: Direction) -> List[PlannedClient]:
    return [c for c in cs if d in c.directions]


def in_direction(plan: LimitPlan, d: Direction) -> Dict[str, Target]:
    return {name: target for (name, direction), target in plan.targets.items() if direction is d}


def taken_by_fixed(cs: List[PlannedClient], d: Direction) -> int:
    """What the fixed shares take out of the budget: each capped at the own limit."""
    total = 0
    for c in members(cs, d):
        if c.fixed is not None:
            bounds = [k for k in (c.cap(d), None if c.fixed.unlimited else c.fixed.kib_per_sec) if k is not None]
            total += min(bounds, default=0)
    return total


def used(plan: LimitPlan, cs: List[PlannedClient], d: Direction) -> int:
    return sum(plan.target(c.name, d).limit.kib_per_sec for c in members(cs, d) if plan.target(c.name, d))


# ------------------------------------------------------------------------------ properties


@given(any_budgets, any_budgets, clients(), floors, st.booleans())
def test_no_limit_is_ever_above_the_users_own_while_streaming(up, down, cs, floor, rebalance):
    plan = plan_limits(True, {UP: up, DOWN: down}, {}, cs, rebalance=rebalance, floor_kib=floor)
    for (name, d), target in plan.targets.items():
        client = next(c for c in cs if c.name == name)
        if client.cap(d) is not None:
            assert not target.limit.unlimited and target.limit.kib_per_sec <= client.cap(d)
        if target.own:
            assert target.limit == client.own_limit(d)


@given(real_budgets, clients(), floors, st.booleans(), st.sampled_from(list(Direction)))
def test_a_real_budget_never_becomes_zero_or_unlimited(budget, cs, floor, rebalance, d):
    assume(all(c.fixed is None or not c.fixed.unlimited for c in cs))  # a fixed "unlimited" means: not lowered
    plan = streaming(budget, cs, d, rebalance=rebalance, floor_kib=floor)
    for c in members(cs, d):
        target = plan.target(c.name, d)
        assert target is not None  # a real budget limits every client in its direction
        assert not target.limit.unlimited and target.limit.kib_per_sec >= 1
        if not target.own:
            assert target.limit.kib_per_sec >= floor or target.limit == c.fixed


@given(real_budgets, clients(), floors, st.booleans(), st.sampled_from(list(Direction)))
def test_shares_sum_to_at_most_the_budget_when_the_floors_fit(budget, cs, floor, rebalance, d):
    weighted = [c for c in members(cs, d) if c.fixed is None]
    assume(budget.kib_per_sec - taken_by_fixed(cs, d) >= floor * len(weighted))
    plan = streaming(budget, cs, d, rebalance=rebalance, floor_kib=floor)
    assert used(plan, cs, d) <= budget.kib_per_sec


@given(real_budgets, clients(min_size=2, fixed=False), floors, st.data())
def test_what_an_own_limit_leaves_unused_goes_to_the_others(budget, cs, floor, data):
    plan = streaming(budget, cs, floor_kib=floor)
    held = [c for c in members(cs, UP) if plan.target(c.name, UP).own]
    assume(held)
    freed = data.draw(st.sampled_from(held))
    without = streaming(budget, [replace(c, own={UP: SpeedLimit(0)}) if c is freed else c for c in cs], floor_kib=floor)
    for c in members(cs, UP):
        if c is not freed:
            assert plan.target(c.name, UP).limit >= without.target(c.name, UP).limit


@given(real_budgets, clients(fixed=False), floors)
def test_the_budget_is_used_up_to_what_the_own_limits_allow(budget, cs, floor):
    shared = members(cs, UP)
    assume(budget.kib_per_sec >= floor * len(shared))
    caps = [c.cap(UP) for c in shared]
    reachable = budget.kib_per_sec if None in caps else min(budget.kib_per_sec, sum(caps))
    total = used(streaming(budget, cs, floor_kib=floor), cs, UP)
    if None not in caps and sum(caps) <= budget.kib_per_sec:
        assert total == reachable  # every client at its own limit
    else:
        assert reachable - len(shared) < total <= reachable  # short only by rounding down


@given(st.one_of(st.none(), st.just(SpeedLimit(0)), real_budgets), any_budgets, clients(), floors)
def test_idle_is_the_own_limit_or_the_configured_idle_limit(idle_up, budget, cs, floor):
    plan = plan_limits(False, {UP: budget, DOWN: budget}, {UP: idle_up}, cs, rebalance=True, floor_kib=floor)
    for c in members(cs, DOWN):
        own = c.own_limit(DOWN)
        assert plan.target(c.name, DOWN) == (None if own is None else Target(own, own=True))
    shared = members(cs, UP)
    if idle_up is None:
        for c in shared:
            own = c.own_limit(UP)
            assert plan.target(c.name, UP) == (None if own is None else Target(own, own=True))
        return
    # as the service split it so far: by weight, fixed shares ignored (they are streaming shares)
    expected = allocate(idle_up, [ClientShare(c.name, c.weight) for c in shared], floor)
    assert in_direction(plan, UP) == {name: Target(limit, own=False) for name, limit in expected.items()}


@given(any_budgets, st.integers(1, 6), st.integers(1, 10), own_limits, floors)
def test_equal_weights_and_equal_own_limits_give_equal_shares(budget, count, weight, own, floor):
    cs = [PlannedClient("c%d" % i, frozenset({UP}), weight, own={UP: own}) for i in range(count)]
    assert len(set(in_direction(streaming(budget, cs, floor_kib=floor), UP).values())) <= 1


@given(real_budgets, st.integers(0, 20_000), clients(), floors, st.sampled_from(list(Direction)))
def test_raising_the_budget_never_lowers_a_limit(budget, more, cs, floor, d):
    lower = streaming(budget, cs, d, floor_kib=floor)
    higher = streaming(SpeedLimit(budget.kib_per_sec + more), cs, d, floor_kib=floor)
    assert set(lower.targets) == set(higher.targets)
    for key, target in lower.targets.items():
        assert higher.targets[key].limit >= target.limit


@given(st.sampled_from([None, SpeedLimit(0)]), clients())
def test_without_a_real_budget_streaming_leaves_every_weighted_client_at_its_own(budget, cs):
    plan = streaming(budget, cs)
    for c in members(cs, UP):
        if c.fixed is None or budget is None:
            own = c.own_limit(UP)
            assert plan.target(c.name, UP) == (None if own is None else Target(own, own=True))


@given(st.booleans(), any_budgets, any_budgets, clients())
def test_only_the_directions_a_client_is_limited_in_are_planned(streams, up, down, cs):
    plan = plan_limits(streams, {UP: up, DOWN: down}, {UP: up, DOWN: down}, cs)
    assert all(d in next(c for c in cs if c.name == name).directions for name, d in plan.targets)


# ------------------------------------------------------------------------------ examples


def test_a_client_the_user_holds_below_its_share_stays_there_and_the_rest_goes_to_the_other():
    cs = [PlannedClient("transmission", own={UP: SpeedLimit(100)}),
          PlannedClient("qbittorrent", own={UP: SpeedLimit(0)})]
    plan = streaming(SpeedLimit(1000), cs)
    assert plan.target("transmission", UP) == Target(SpeedLimit(100), own=True)
    assert plan.target("qbittorrent", UP) == Target(SpeedLimit(900), own=False)


def test_an_unknown_own_limit_does_not_cap_the_share():
    plan = streaming(SpeedLimit(1000), [PlannedClient("a"), PlannedClient("b", own={UP: SpeedLimit(100)})])
    assert plan.target("a", UP) == Target(SpeedLimit(900), own=False)


def test_a_fixed_share_above_the_own_limit_is_the_own_limit_and_takes_only_that():
    cs = [PlannedClient("vpn", fixed=SpeedLimit(500), own={UP: SpeedLimit(200)}),
          PlannedClient("a"), PlannedClient("b")]
    plan = streaming(SpeedLimit(1000), cs)
    assert plan.target("vpn", UP) == Target(SpeedLimit(200), own=True)
    assert plan.target("a", UP) == plan.target("b", UP) == Target(SpeedLimit(400), own=False)


def test_a_fixed_unlimited_share_leaves_the_client_at_its_own_limit():
    cs = [PlannedClient("vpn", fixed=SpeedLimit(0), own={UP: SpeedLimit(300)}), PlannedClient("a")]
    plan = streaming(SpeedLimit(1000), cs)
    assert plan.target("vpn", UP) == Target(SpeedLimit(300), own=True)
    assert plan.target("a", UP) == Target(SpeedLimit(700), own=False)


def test_a_torrent_client_is_limited_in_both_directions_from_their_own_budgets():
    both = frozenset({UP, DOWN})
    cs = [PlannedClient("qbit", both, own={UP: SpeedLimit(0), DOWN: SpeedLimit(50)}),
          PlannedClient("sab", frozenset({DOWN}), own={DOWN: SpeedLimit(0)})]
    plan = plan_limits(True, {UP: SpeedLimit(400), DOWN: SpeedLimit(1000)}, {}, cs)
    assert plan.target("qbit", UP) == Target(SpeedLimit(400), own=False)
    assert plan.target("qbit", DOWN) == Target(SpeedLimit(50), own=True)
    assert plan.target("sab", DOWN) == Target(SpeedLimit(950), own=False)
    assert plan.target("sab", UP) is None


def test_idle_restores_the_own_limits_and_leaves_unknown_ones_alone():
    cs = [PlannedClient("a", own={UP: SpeedLimit(100)}), PlannedClient("b")]
    plan = plan_limits(False, {UP: SpeedLimit(1000)}, {}, cs)
    assert plan.targets == {("a", UP): Target(SpeedLimit(100), own=True)}


def test_a_configured_idle_limit_is_split_by_weight_whatever_the_own_limits():
    cs = [PlannedClient("a", weight=2, own={UP: SpeedLimit(100)}), PlannedClient("b", fixed=SpeedLimit(5))]
    plan = plan_limits(False, {}, {UP: SpeedLimit(900)}, cs)
    assert plan.target("a", UP) == Target(SpeedLimit(600), own=False)
    assert plan.target("b", UP) == Target(SpeedLimit(300), own=False)


def test_rebalance_moves_the_share_of_a_client_not_uploading_to_the_one_that_is():
    cs = [PlannedClient("busy", upload_rate=SpeedLimit(ACTIVE_KIB)),
          PlannedClient("quiet", upload_rate=SpeedLimit(ACTIVE_KIB - 1), own={UP: SpeedLimit(0)})]
    plan = streaming(SpeedLimit(1000), cs, rebalance=True)
    assert plan.target("quiet", UP) == Target(SpeedLimit(50), own=False)
    assert plan.target("busy", UP) == Target(SpeedLimit(950), own=False)


def test_rebalance_still_keeps_the_active_clients_under_their_own_limits():
    cs = [PlannedClient("busy", own={UP: SpeedLimit(300)}), PlannedClient("other", own={UP: SpeedLimit(0)}),
          PlannedClient("quiet", upload_rate=SpeedLimit(0))]
    plan = streaming(SpeedLimit(900), cs, rebalance=True)
    assert plan.target("busy", UP) == Target(SpeedLimit(300), own=True)
    assert plan.target("quiet", UP) == Target(SpeedLimit(30), own=False)
    assert plan.target("other", UP) == Target(SpeedLimit(570), own=False)


def test_an_unknown_rate_counts_as_uploading():
    assert uploading(None) and uploading(SpeedLimit(ACTIVE_KIB)) and not uploading(SpeedLimit(ACTIVE_KIB - 1))


def test_a_fixed_share_for_one_direction_leaves_the_other_to_the_weights():
    seedbox = PlannedClient("seedbox", frozenset({Direction.UPLOAD, Direction.DOWNLOAD}),
                            fixed={Direction.UPLOAD: SpeedLimit(100)}, own={Direction.UPLOAD: SpeedLimit(0),
                                                                         Direction.DOWNLOAD: SpeedLimit(0)})
    other = PlannedClient("other", frozenset({Direction.UPLOAD, Direction.DOWNLOAD}),
                          own={Direction.UPLOAD: SpeedLimit(0), Direction.DOWNLOAD: SpeedLimit(0)})
    plan = plan_limits(True, {Direction.UPLOAD: SpeedLimit(1000), Direction.DOWNLOAD: SpeedLimit(2000)},
                       {Direction.UPLOAD: None, Direction.DOWNLOAD: None}, [seedbox, other])
    assert plan.target("seedbox", Direction.UPLOAD).limit == SpeedLimit(100)
    assert plan.target("other", Direction.UPLOAD).limit == SpeedLimit(900)
    assert plan.target("seedbox", Direction.DOWNLOAD).limit == SpeedLimit(1000)  # by weight, not fixed
    assert plan.target("other", Direction.DOWNLOAD).limit == SpeedLimit(1000)
