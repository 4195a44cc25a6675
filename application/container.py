"""The composition root: the one place that names every concrete class."""
from __future__ import annotations

import os
import time
from typing import Any, Callable, Mapping, Optional, Sequence

from dependency_injector import containers, providers

from adapters.plex import PlexStreamSource
from adapters.qbittorrent import QBittorrentUploadLimiter
from adapters.systemd_notify import SystemdNotifier
from application import version as version_module
from application.enforcers import AlternativeModeEnforcer, GlobalLimitEnforcer
from application.reporting import TickLogger
from application.runner import DaemonRunner
from application.service import Decider, ThrottleService
from application.settings import Settings
from application.version import __version__
from domain.overrides import FlapGuard
from domain.policies import (
    Deadband,
    DynamicLimitPolicy,
    FixedLimitPolicy,
    LimitPolicy,
    StreamTier,
    TieredLimitPolicy,
    UploadLimit,
)
from domain.sessions import RemoteStreamRule
from domain.state import Hysteresis, StreamingStateMachine

# The optional parts (notifications, Plex events, the status server) are imported only when
# configured: each costs memory on a small NAS that most users never need.


def make_notification_dispatcher(specs: Sequence[Mapping[str, Any]], timeout_sec: float) -> Any:
    from adapters.notifiers import NotificationDispatcher, build_target

    return NotificationDispatcher([build_target(spec) for spec in specs], timeout_sec=timeout_sec)


def make_notification_policy(dispatcher: Any, after_failures: int) -> Any:
    from adapters.notifiers import Notification
    from application.notifications import NotificationPolicy

    return NotificationPolicy(dispatcher, Notification, after_failures=after_failures)


def make_plex_event_listener(**kwargs: Any) -> Any:
    from adapters.plex_events import PlexEventListener

    return PlexEventListener(**kwargs)


def served_metrics(status_listen: str, registry: Callable[[], Any]) -> Any:
    """The metrics registry when /metrics is served; without a status server nothing is counted."""
    return registry() if status_listen else None


def make_metrics_registry() -> Any:
    from application.metrics import MetricsRegistry

    return MetricsRegistry(version=__version__, build=version_module.BUILD)


def make_enforcer_memory(state_dir: Optional[str], limit_mode: str) -> Any:
    """Where an enforcer remembers what it changed (imported lazily: start-up stays lean)."""
    from application.state_files import ALTERNATIVE_MODE_FILE, GLOBAL_LIMIT_FILE, JsonStateFile, default_state_dir

    name = ALTERNATIVE_MODE_FILE if limit_mode == "alternative" else GLOBAL_LIMIT_FILE
    return JsonStateFile(os.path.join(state_dir or default_state_dir(), name))


def make_override_store(state_dir: Optional[str]) -> Any:
    from application.state_files import OverrideStore, default_state_dir

    
    return OverrideStore(state_dir or default_state_dir())


def make_daemon_status(**kwargs: Any) -> Any:
    from application.status import DaemonStatus

    return DaemonStatus(**kwargs)


def make_status_server(**kwargs: Any) -> Any:
    from adapters.status_server import StatusHttpServer

    return StatusHttpServer(**kwargs)


def make_status_client(listen: str, token: str) -> Any:
    from adapters.status_server import StatusClient, url_for_listen

    return StatusClient(url_for_listen(listen), token=token)


def current_rule_of(service: ThrottleService) -> Callable[[], RemoteStreamRule]:
    """For the --verbose poll line: the rule the service uses now (a reload replaces it)."""
    return lambda: service.decider.rule


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
    # how to reach Plex: the same for polling and for its event stream
    _plex_connection = dict(
        base_url=settings.provided.plex_url,
        token=settings.provided.plex_token,
        timeout_sec=settings.provided.http_timeout_sec,
        verify_tls=settings.provided.plex_verify_tls,
        ca_file=settings.provided.plex_ca_file,
        product_version=__version__,
    )
    stream_source = providers.Singleton(PlexStreamSource, **_plex_connection)
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
            "global": providers.Singleton(
                GlobalLimitEnforcer,
                limiter=upload_limiter,
                memory=providers.Callable(make_enforcer_memory, settings.provided.state_dir, "global"),
            ),
            "alternative": providers.Singleton(
                AlternativeModeEnforcer,
                control=upload_limiter,
                memory=providers.Callable(make_enforcer_memory, settings.provided.state_dir, "alternative"),
            ),
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
        min_count_interval_sec=providers.Callable(lambda interval: interval / 2, settings.provided.poll_interval_sec),
    )
    # the rule in force, read at each poll: a reload replaces the service's decider
    tick_logger = providers.Singleton(TickLogger, current_rule=providers.Callable(current_rule_of, service))
    notification_dispatcher = providers.Singleton(
        make_notification_dispatcher, specs=settings.provided.notify, timeout_sec=settings.provided.http_timeout_sec
    )
    notification_policy = providers.Singleton(
        make_notification_policy, dispatcher=notification_dispatcher, after_failures=settings.provided.notify_after_failures
    )
    notifier = providers.Singleton(SystemdNotifier)
    # Status: /health, /metrics, webhooks and the override (status_listen)
    metrics = providers.Singleton(make_metrics_registry)
    runner = providers.Singleton(
        DaemonRunner,
        service=service,
        tick_logger=tick_logger,
        interval_sec=settings.provided.poll_interval_sec,
        restore_on_exit=settings.provided.restore_on_exit,
        notifier=notifier,
        # one request's deadline and a little: the exit is promised within http_timeout_sec + 1 s
        restore_deadline_sec=providers.Callable(lambda timeout: timeout + 0.5, settings.provided.http_timeout_sec),
        metrics=providers.Callable(served_metrics, settings.provided.status_listen, metrics.provider),
    )

    override_store = providers.Singleton(make_override_store, state_dir=settings.provided.state_dir)
    daemon_status = providers.Singleton(
        make_daemon_status, runner=runner, metrics=metrics, override_store=override_store, notifications=notification_policy
    )
    status_server = providers.Singleton(
        make_status_server,
        listen=settings.provided.status_listen,
        backend=daemon_status,
        token=settings.provided.status_token,
    )

    status_client = providers.Factory(
        make_status_client, listen=settings.provided.status_listen, token=settings.provided.status_token
    )

    # Companions: optional background parts, started and stopped around the loop
    event_listener = providers.Singleton(
        make_plex_event_listener, on_playback=runner.provided.request_observation, **_plex_connection
    )
    del _plex_connection
