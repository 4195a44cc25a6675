"""What limit each download client gets, in each direction, now: one pure plan for the whole tick.

The user's own limit is an upper bound: plex-helper only ever lowers a client while someone streams,
so a client the user already holds below its share is left at its own limit, and what it leaves
unused goes to the others (fill, in domain/allocation.py). Pure: no I/O, no clock.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Dict, FrozenSet, List, Mapping, Optional, Sequence, Tuple

from domain.allocation import fill, rebalance as by_activity
from domain.policies import SpeedLimit

# a client that moves less than this (KiB/s) is "not uploading": with rebalance it keeps a small share
ACTIVE_KIB = 5


def uploading(rate: Optional[SpeedLimit]) -> bool:
    """Whether a measured upload rate counts as active. Unknown counts as active, so a client whose
    rate cannot be read is never starved."""
    return rate is None or rate.kib_per_sec >= ACTIVE_KIB


class Direction(enum.Enum):
    UPLOAD = "upload"
    DOWNLOAD = "download"


@dataclass(frozen=True)
class PlannedClient:
    """One configured client as the plan sees it.

    `directions`: the directions plex-helper limits for it. `fixed`: its own streaming share, in each
    of them (one SpeedLimit) or in the directions a mapping names, taken out of the budget before
    the weighted split (unlimited: not lowered while streaming). `own`: the user's own limit per direction as found (SpeedLimit(0) = unlimited;
    missing or None = not known yet). `upload_rate`: measured, for rebalance (None = unknown).
    """

    name: str
    directions: FrozenSet[Direction] = frozenset({Direction.UPLOAD})
    weight: int = 1
    fixed: "Optional[SpeedLimit] | Mapping[Direction, SpeedLimit]" = None
    own: Mapping[Direction, Optional[SpeedLimit]] = field(default_factory=dict, hash=False)
    upload_rate: Optional[SpeedLimit] = None

    def __post_init__(self) -> None:
        if self.weight < 1:
            raise ValueError("a weight is at least 1")
        object.__setattr__(self, "directions", frozenset(self.directions))
        object.__setattr__(self, "own", MappingProxyType(dict(self.own)))
        if self.fixed is not None and not isinstance(self.fixed, SpeedLimit):  # per direction
            object.__setattr__(self, "fixed", MappingProxyType(dict(self.fixed)))

    def fixed_in(self, direction: Direction) -> Optional[SpeedLimit]:
        """Its fixed streaming share in `direction`: one SpeedLimit applies in each of its directions,
        a mapping only in the directions it names."""
        if self.fixed is None or isinstance(self.fixed, SpeedLimit):
            return self.fixed
        return self.fixed.get(direction)

    def own_limit(self, direction: Direction) -> Optional[SpeedLimit]:
        return self.own.get(direction)

    def cap(self, direction: Direction) -> Optional[int]:
        """The most (KiB/s) plex-helper may set in `direction`: the own limit when known and not
        unlimited; None when there is no bound it can know of."""
        own = self.own_limit(direction)
        return None if own is None or own.unlimited else own.kib_per_sec


@dataclass(frozen=True)
class Target:
    """What one client gets in one direction. `own`: it is the user's own limit, left alone or
    restored (surfaces say "yours, left alone"); else plex-helper's limit."""

    limit: SpeedLimit
    own: bool


@dataclass(frozen=True)
class LimitPlan:
    """Every (client name, direction) that gets a limit now. One that is absent is left alone: the
    plan cannot know what to set (its own limit is not known yet) and nothing asks it to change."""

    targets: Mapping[Tuple[str, Direction], Target]

    def __post_init__(self) -> None:
        object.__setattr__(self, "targets", MappingProxyType(dict(self.targets)))

    def target(self, name: str, direction: Direction) -> Optional[Target]:
        return self.targets.get((name, direction))


def plan_limits(
    streaming: bool,
    budgets: Mapping[Direction, Optional[SpeedLimit]],
    idle: Mapping[Direction, Optional[SpeedLimit]],
    clients: Sequence[PlannedClient],
    rebalance: bool = False,
    floor_kib: int = 1,
    idle_share_percent: int = 10,
) -> LimitPlan:
    """Each client's limit in each of its directions. A caller may rely on:

    - streaming, with a real budget (neither None nor unlimited) in a direction: its clients share
      it. A fixed share is taken first; the others split the rest by weight (whole KiB, rounded
      down, at least `floor_kib`). No share is above the client's own limit: a client whose own
      limit is at or below its share gets Target(own, own=True), and what it leaves unused goes to
      the others by weight. Shares sum to at most the budget, unless fixed shares or the floors
      alone exceed it. A limit plex-helper sets is never 0 (= unlimited). A client whose own limit
      is unknown gets its share uncapped, own=False;
    - streaming, budget None (that direction is not throttled): every client keeps its own limit;
      budget unlimited: the same, except that fixed shares still apply (capped at the own limit);
    - with `rebalance`, while streaming: a weighted client that is not uploading (below
      ACTIVE_KIB) keeps `idle_share_percent` of its upload share, the uploading ones share the rest;
    - idle: every client's own limit, Target(own, own=True); with an idle limit configured for a
      direction, that limit split by weight among its clients instead (fixed shares do not apply
      while idle), own=False;
    - a client keeping its own limit while that is unknown is absent from the plan (left alone);
    - raising a budget never lowers anyone's limit (without rebalance).
    """
    floor_kib = max(1, floor_kib)
    targets: Dict[Tuple[str, Direction], Target] = {}
    for direction in Direction:
        members = [c for c in clients if direction in c.directions]
        if streaming:
            shift = rebalance and direction is Direction.UPLOAD
            part = _streaming(budgets.get(direction), members, direction, shift, floor_kib, idle_share_percent)
        else:
            part = _idle(idle.get(direction), members, direction, floor_kib)
        targets.update({(name, direction): target for name, target in part.items()})
    return LimitPlan(targets)


def _own(clients: Sequence[PlannedClient], direction: Direction) -> Dict[str, Target]:
    """The clients left at their own limits: a target where that is known, none where it is not."""
    found = {c.name: c.own_limit(direction) for c in clients}
    return {name: Target(own, own=True) for name, own in found.items() if own is not None}


def _capped(client: PlannedClient, direction: Direction, kib: int) -> Target:
    """`kib` for the client, or its own limit when that is at or below it."""
    cap = client.cap(direction)
    if cap is not None and cap <= kib:
        return Target(SpeedLimit(cap), own=True)
    return Target(SpeedLimit(kib), own=False)


def _idle(limit: Optional[SpeedLimit], members: List[PlannedClient], direction: Direction,
          floor_kib: int) -> Dict[str, Target]:
    if limit is None:
        return _own(members, direction)
    if limit.unlimited:
        return {c.name: Target(limit, own=False) for c in members}
    shares = fill(limit.kib_per_sec, {c.name: c.weight for c in members}, floor_kib)
    return {c.name: Target(SpeedLimit(shares[c.name]), own=False) for c in members}


def _streaming(budget: Optional[SpeedLimit], members: List[PlannedClient], direction: Direction,
               shift: bool, floor_kib: int, idle_share_percent: int) -> Dict[str, Target]:
    if budget is None:
        return _own(members, direction)
    targets: Dict[str, Target] = {}
    taken = 0  # what the fixed shares take out of the budget
    for client in members:
        fixed = client.fixed_in(direction)
        if fixed is None:
            continue
        if fixed.unlimited:  # not lowered while streaming: its own limit is its share
            targets.update(_own([client], direction))
            taken += client.cap(direction) or 0
        else:
            targets[client.name] = _capped(client, direction, fixed.kib_per_sec)
            taken += targets[client.name].limit.kib_per_sec
    weighted = [c for c in members if c.fixed_in(direction) is None]
    if budget.unlimited:
        targets.update(_own(weighted, direction))
        return targets
    left = max(0, budget.kib_per_sec - taken)
    weights = {c.name: c.weight for c in weighted}
    caps = {c.name: cap for c in weighted for cap in [c.cap(direction)] if cap is not None}
    shares = fill(left, weights, floor_kib, caps)
    if shift:
        active = {c.name for c in weighted if uploading(c.upload_rate)}
        shares = by_activity(left, weights, shares, active, idle_share_percent, floor_kib, caps)
    targets.update({c.name: _capped(c, direction, shares[c.name]) for c in weighted})
    return targets
