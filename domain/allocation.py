"""Sharing one budget between several download clients."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Collection, Dict, Mapping, Optional, Sequence

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
    weights = {c.name: c.weight for c in weighted}
    kib = fill(left, weights, floor_kib)
    if activity is not None:
        active = {c.name for c in weighted if activity.get(c.name, True)}
        kib = rebalance(left, weights, kib, active, idle_share_percent, floor_kib)
    shares.update({c.name: SpeedLimit(max(floor_kib, kib[c.name])) for c in weighted})
    return shares


def fill(total_kib: int, weights: Mapping[str, int], floor_kib: int = 1,
         caps: Optional[Mapping[str, int]] = None) -> Dict[str, int]:
    """`total_kib` shared by weight, no one above its cap (water-filling). A caller may rely on:

    - shares are whole KiB, rounded down, at least `floor_kib` (the floors as `allocate` documents),
      except that a cap below the floor wins: a share is never above its cap;
    - what a cap leaves unused goes to the uncapped clients by weight, so a cap never lowers
      anyone else's share;
    - a share equals its cap exactly when the cap held it back (an uncapped share is below its cap);
    - caps summing to at most the total give every capped client its cap; without a cap, a share
      is what `allocate` gives.
    """
    caps = caps or {}
    shares: Dict[str, int] = {}
    rest = dict(weights)
    left = total_kib
    while rest:
        split = _split(left, rest, floor_kib)
        capped = [name for name in rest if name in caps and caps[name] <= split[name]]
        if not capped:
            shares.update(split)
            break
        for name in capped:  # they take only their cap: the rest is shared again among the others
            shares[name] = caps[name]
            left = max(0, left - caps[name])
            del rest[name]
    return shares


def _split(total_kib: int, weights: Mapping[str, int], floor_kib: int) -> Dict[str, int]:
    """By weight, rounded down; a client whose share falls below the floor gets the floor and the
    others share what is left (so the floors never push the sum over the total when it has room)."""
    shares: Dict[str, int] = {}
    rest = dict(weights)
    total = total_kib
    while rest:
        weight_sum = sum(rest.values())
        split = {name: total * weight // weight_sum for name, weight in rest.items()}
        short = [name for name in rest if split[name] < floor_kib]
        if not short:
            shares.update(split)
            break
        for name in short:
            shares[name] = floor_kib
            del rest[name]
        total = max(0, total - floor_kib * len(short))
    return shares


def rebalance(
    total_kib: int,
    weights: Mapping[str, int],
    shares: Mapping[str, int],
    active: Collection[str],
    idle_share_percent: int,
    floor_kib: int,
    caps: Optional[Mapping[str, int]] = None,
) -> Dict[str, int]:
    """`shares` (the weighted split of `total_kib`) moved towards the `active` clients: one that is
    not active keeps `idle_share_percent` of its share (at least the floor, never above its cap),
    the active ones fill the rest as `fill` does. All or none active: `shares` unchanged."""
    caps = caps or {}
    moving = {name: weight for name, weight in weights.items() if name in active}
    resting = [name for name in weights if name not in active]
    if not moving or not resting:
        return dict(shares)
    kept = {name: max(floor_kib, shares[name] * idle_share_percent // 100) for name in resting}
    kept = {name: min(kib, caps[name]) if name in caps else kib for name, kib in kept.items()}
    rest = max(0, total_kib - sum(kept.values()))
    kept.update(fill(rest, moving, floor_kib, caps))
    return kept
