"""The composition root: the one place that names every concrete class."""
from __future__ import annotations

import time
from typing import Any, List, Mapping, Sequence

from dependency_injector import containers, providers

from adapters.notifiers import Notification, NotificationDispatcher, build_target
from adapters.plex import PlexStreamSource
from adapters.plex_events import PlexEventListener
from adapters.qbittorrent import QBittorrentUploadLimiter
from adapters.status_server import StatusHttpServer
from adapters.systemd_notify import SystemdNotifier
from application.enforcers import AlternativeModeEnforcer, GlobalLimitEnforcer
from application import version as version_module
from application.metrics import MetricsRegistry
from application.notifications import NotificationPolicy
from application.override_store import OverrideStore, default_state_dir
from application.reporting import TickLogger
from application.runner import DaemonRunner
from application.service import Decider, ThrottleService
from application.settings import Settings
from application.status import DaemonStatus
from application.version import __version__
from domain.policies import (
    Deadband,
    DynamicLimitPolicy,
    FixedLimitPolicy,
    LimitPolicy,
    StreamTier,
    TieredLimitPolicy,
    UploadLimit,
)
from domain.overrides import FlapGuard
from domain.sessions import RemoteStreamRule
from domain.state import Hysteresis, StreamingStateMachine


def build_notification_targets(specs: Sequence[Mapping[str, Any]]) -> List[Any]:
    return [build_target(spec) for spec in specs]


def build_decider(settings: Settings) -> Decider:
    """The pure decision parts for a config; rebuilt on reload, so the loop keeps its state."""
    return Decider(
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
    )


def build_policy(settings: Settings) -> LimitPolicy:
    idle = UploadLimit(settings.idle_upload_kbps)
    if settings.limit_policy == "tiers":
        tiers = tuple(StreamTier(streams, UploadLimit(kbps)) for streams, kbps in settings.streaming_tiers)
        return TieredLimitPolicy(idle=idle, tiers=tiers)
    if settings.limit_policy == "dynamic":
        return DynamicLimitPolicy(
            idle=idle,
            capacity_kib=settings.upload_capacity_kbps,
            overhead_factor=settings.stream_overhead_factor,
            floor_kib=settings.min_upload_kbps,
        )
    return FixedLimitPolicy(idle=idle, streaming=UploadLimit(settings.streaming_upload_kbps))


class Container(containers.DeclarativeContainer):
    settings = providers.Dependency(instance_of=Settings)
    dry_run = providers.Object(False)
    clock = providers.Object(time.monotonic)

    # Gateways
    stream_source = providers.Singleton(
        PlexStreamSource,
        base_url=settings.provided.plex_url,
        token=settings.provided.plex_token,
        timeout_sec=settings.provided.http_timeout_sec,
        verify_tls=settings.provided.plex_verify_tls,
        ca_file=settings.provided.plex_ca_file,
        product_version=__version__,
    )
    upload_limiter = providers.Singleton(
        QBittorrentUploadLimiter,
        base_url=settings.provided.qbittorrent_url,
        username=settings.provided.qbittorrent_username,
        password=settings.provided.qbittorrent_password,
        api_key=settings.provided.qbittorrent_api_key,
        timeout_sec=settings.provided.http_timeout_sec,
        verify_tls=settings.provided.qbittorrent_verify_tls,
        ca_file=settings.provided.qbittorrent_ca_file,
        login_retry_sec=settings.provided.login_retry_sec,
        clock=clock,
    )

    enforcer = providers.Selector(
        settings.provided.limit_mode,
        **{
            "global": providers.Singleton(GlobalLimitEnforcer, limiter=upload_limiter),
            "alternative": providers.Singleton(AlternativeModeEnforcer, control=upload_limiter),
        },
    )

    # Services
    decider = providers.Factory(build_decider, settings=settings)
    service = providers.Singleton(
        ThrottleService,
        source=stream_source,
        enforcer=enforcer,
        decider=decider,
        clock=clock,
        dry_run=dry_run,
        reconcile_interval_sec=settings.provided.reconcile_interval_sec,
    )
    tick_logger = providers.Singleton(TickLogger)
    notification_dispatcher = providers.Singleton(
        NotificationDispatcher,
        targets=providers.Callable(build_notification_targets, settings.provided.notify),
        timeout_sec=settings.provided.http_timeout_sec,
    )
    notification_policy = providers.Singleton(
        NotificationPolicy,
        sink=notification_dispatcher,
        notification_type=providers.Object(Notification),
        after_failures=settings.provided.notify_after_failures,
    )
    notifier = providers.Singleton(SystemdNotifier)
    runner = providers.Singleton(
        DaemonRunner,
        service=service,
        tick_logger=tick_logger,
        interval_sec=settings.provided.poll_interval_sec,
        restore_on_exit=settings.provided.restore_on_exit,
        notifier=notifier,
        observers=providers.List(notification_policy),
    )

    # Status: /health, /metrics, webhooks and the override (status_listen)
    metrics = providers.Singleton(
        MetricsRegistry, version=__version__, build=providers.Callable(lambda: version_module.BUILD)
    )
    override_store = providers.Singleton(
        OverrideStore, directory=providers.Callable(lambda d: d or default_state_dir(), settings.provided.state_dir)
    )
    daemon_status = providers.Singleton(
        DaemonStatus, runner=runner, metrics=metrics, override_store=override_store, notifications=notification_policy
    )
    status_server = providers.Singleton(
        StatusHttpServer,
        listen=settings.provided.status_listen,
        backend=daemon_status,
        token=settings.provided.status_token,
    )

    # Companions: optional background parts, started and stopped around the loop
    event_listener = providers.Singleton(
        PlexEventListener,
        base_url=settings.provided.plex_url,
        token=settings.provided.plex_token,
        on_playback=runner.provided.request_observation,
        timeout_sec=settings.provided.http_timeout_sec,
        verify_tls=settings.provided.plex_verify_tls,
        ca_file=settings.provided.plex_ca_file,
        product_version=__version__,
    )
