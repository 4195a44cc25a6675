"""Sharing one budget between several download clients."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Mapping, Optional, Sequence

from domain.policies import SpeedLimit


@dataclass(frozen=True)
class ClientShare:
    """How one client takes part in the split: by `weight`, or with its own `fixed` limit."""

    name: str
    weight: int = 1
    fixed: Optional[SpeedLimit] = None

    def __post_init__(self) -> None:
        if self.weight < 1:
            raise ValueError("a weight is at least 1")


def allocate(
    budget: SpeedLimit,
    clients: Sequence[ClientShare],
    floor_kib: int = 1,
    activity: Optional[Mapping[str, bool]] = None,
    idle_share_percent: int = 10,
) -> Dict[str, SpeedLimit]:
    """Each client's limit. A caller may rely on:

    - an unlimited budget leaves every client unlimited, except those with a fixed limit;
    - a client with its own fixed limit keeps it, and it is taken out of the budget first;
    - the others split what is left by weight, in whole KiB/s, rounded down: the shares never sum
      to more than the budget, and equal weights give equal shares;
    - no share is below `floor_kib` (at least 1), so a meant limit never becomes 0 = unlimited.
      Only when the budget cannot give every client the floor do the floors sum to more than it;
    - with `activity` (rebalance): a client that is not uploading keeps `idle_share_percent` of
      its weighted share (at least the floor) and the rest goes to the clients that are; equal
      activity (all or none active) gives the weighted split.
    """
    floor_kib = max(1, floor_kib)
    shares: Dict[str, SpeedLimit] = {}
    for client in clients:
        if client.fixed is not None:
            shares[client.name] = client.fixed
    weighted = [c for c in clients if c.fixed is None]
    if budget.unlimited:
        shares.update({c.name: SpeedLimit(0) for c in weighted})
        return shares
    fixed_kib = sum(limit.kib_per_sec for limit in shares.values() if not limit.unlimited)
    left = max(0, budget.kib_per_sec - fixed_kib)
    kib = _split(left, weighted, floor_kib)
    if activity is not None:
        kib = _rebalance(left, weighted, kib, activity, idle_share_percent, floor_kib)
    shares.update({c.name: SpeedLimit(max(floor_kib, kib[c.name])) for c in weighted})
    return shares


def _split(total_kib: int, clients: Sequence[ClientShare], floor_kib: int) -> Dict[str, int]:
    """By weight, rounded down; a client whose share falls below the floor gets the floor and the
    others share what is left (so the floors never push the sum over the total when it has room)."""
    shares: Dict[str, int] = {}
    rest = list(clients)
    total = total_kib
    while rest:
        weights = sum(c.weight for c in rest)
        split = {c.name: total * c.weight // weights for c in rest}
        short = [c for c in rest if split[c.name] < floor_kib]
        if not short:
            shares.update(split)
            break
        for c in short:
            shares[c.name] = floor_kib
        total = max(0, total - floor_kib * len(short))
        rest = [c for c in rest if c not in short]
    return shares


def _rebalance(
    total_kib: int,
    clients: Sequence[ClientShare],
    weighted: Dict[str, int],
    activity: Mapping[str, bool],
    idle_share_percent: int,
    floor_kib: int,
) -> Dict[str, int]:
    active = [c for c in clients if activity.get(c.name, True)]
    resting = [c for c in clients if not activity.get(c.name, True)]
    if not active or not resting:
        return weighted  # equal activity: the weighted split
    kept = {c.name: max(floor_kib, weighted[c.name] * idle_share_percent // 100) for c in resting}
    rest = max(0, total_kib - sum(kept.values()))
    kept.update(_split(rest, active, floor_kib))
    return kept
