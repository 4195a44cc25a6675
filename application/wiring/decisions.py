"""The pure decision parts for a config: the remote-stream rule, the state machine with its
hysteresis, the limit policy, the deadband, the flap guard and the schedule, as one ThrottleRules; and the
values the service takes from the config (its local time, its download budget).

The container builds one ThrottleRules per config; a reload builds a new one and hands it to the running
service, so the loop keeps its state.
"""
from __future__ import annotations

from typing import Callable, Optional

from application.config.settings import Settings
from application.service import ThrottleRules, local_time_in
from domain.overrides import FlapGuard
from domain.policies import (
    Deadband,
    DynamicLimitPolicy,
    FixedLimitPolicy,
    LimitPolicy,
    StreamTier,
    TieredLimitPolicy,
    SpeedLimit,
)
from domain.schedule import LocalTime
from domain.sessions import RemoteStreamRule
from domain.state import Hysteresis, StreamingStateMachine


def build_decider(settings: Settings) -> ThrottleRules:
    """The pure decision parts for a config; rebuilt on reload, so the loop keeps its state."""
    return ThrottleRules(
        rule=RemoteStreamRule(
            count_states=frozenset(settings.count_states),
            lan_networks=settings.lan_networks,
            ignore_users=frozenset(settings.ignore_users),
        ),
        machine=StreamingStateMachine(
            Hysteresis(
                streaming_threshold=settings.streaming_threshold,
                idle_threshold=settings.idle_threshold,
                down_restore_after_sec=settings.plex_down_restore_after_sec,
            )
        ),
        policy=build_policy(settings),
        deadband=Deadband(settings.dynamic_deadband_percent if settings.limit_policy == "dynamic" else 0.0),
        flap_guard=FlapGuard(settings.max_transitions_per_hour),
        # an event-triggered observation sooner than half a poll interval advances no streak
        min_count_interval_sec=settings.poll_interval_sec / 2,
        schedule=tuple(settings.schedule),
    )


def build_policy(settings: Settings) -> LimitPolicy:
    # without an idle limit the clients keep their own (the enforcers restore it): the budget is 0
    idle = SpeedLimit(settings.idle_upload_kbps or 0)
    if settings.limit_policy == "tiers":
        tiers = tuple(StreamTier(streams, SpeedLimit(kbps)) for streams, kbps in settings.streaming_tiers)
        return TieredLimitPolicy(idle=idle, tiers=tiers)
    if settings.limit_policy == "dynamic":
        return DynamicLimitPolicy(
            idle=idle,
            capacity_kib=settings.upload_capacity_kbps,
            overhead_factor=settings.stream_overhead_factor,
            floor_kib=settings.min_upload_kbps,
        )
    return FixedLimitPolicy(idle=idle, streaming=SpeedLimit(settings.streaming_upload_kbps))


def local_time_for(timezone: str) -> Callable[[float], LocalTime]:
    """The schedule's local time: in `timezone`, or the machine's zone (which follows TZ)."""
    if not timezone:
        return local_time_in(None)
    from zoneinfo import ZoneInfo

    return local_time_in(ZoneInfo(timezone))


def download_budget_of(streaming_download_kbps: Optional[int]) -> Optional[SpeedLimit]:
    """The Usenet clients' budget while streaming; None: their downloads are left alone."""
    return None if streaming_download_kbps is None else SpeedLimit(streaming_download_kbps)
