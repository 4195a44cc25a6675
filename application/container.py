"""The composition root: the one place that names every concrete class."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from dependency_injector import containers, providers

from adapters.systemd_notify import SystemdNotifier
from application import version as version_module
from application.composition import (
    build_client_slots,
    build_media_servers,
    make_client_adapter,
    make_enforcer,
    make_media_server_source,
)
from domain.ports import LimitEnforcer
from application.reporting import TickLogger, side_labels
from application.runner import DaemonRunner
from application.service import Decider, ThrottleService, local_time_in
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
from domain.ports import StreamSource
from domain.sessions import RemoteStreamRule
from domain.state import Hysteresis, StreamingStateMachine

# The optional parts (notifications, Plex events, the status server) are imported only when
# configured: each costs memory on a small NAS that most users never need.


def make_notification_dispatcher(specs: Sequence[Mapping[str, Any]], timeout_sec: float) -> Any:
    from adapters.notifiers import NotificationDispatcher, build_target

    return NotificationDispatcher([build_target(spec) for spec in specs], timeout_sec=timeout_sec)


def make_notification_policy(dispatcher: Any, after_failures: int, labels: Mapping[str, str]) -> Any:
    from adapters.notifiers import Notification
    from application.notifications import NotificationPolicy

    return NotificationPolicy(dispatcher, Notification, after_failures=after_failures, labels=labels)


def make_event_listeners(settings: Settings, request_observation: Callable[..., None]) -> List[Any]:
    """A push listener per media server that has `events` on: Plex's event stream, Jellyfin's and
    Emby's WebSocket. Each triggers an observation through the normal read."""
    listeners: List[Any] = []
    for server in settings.media_servers:
        if not server.events:
            continue
        if server.type == "plex":
            from adapters.plex_events import PlexEventListener

            listeners.append(PlexEventListener(
                server.url, server.token, on_playback=request_observation, timeout_sec=settings.http_timeout_sec,
                verify_tls=server.verify_tls, ca_file=server.ca_file, product_version=__version__,
            ))
        else:
            from adapters.jellyfin import KINDS
            from adapters.jellyfin_events import JellyfinEventListener

            listeners.append(JellyfinEventListener(
                KINDS[server.type], server.url, server.token, trigger=request_observation,
                timeout_sec=settings.http_timeout_sec, verify_tls=server.verify_tls, ca_file=server.ca_file,
            ))
    return listeners


def first_media_server_source(settings: Settings) -> StreamSource:
    return make_media_server_source(settings.media_servers[0], settings)


def first_client_adapter(settings: Settings, clock: Callable[[], float]) -> Any:
    return make_client_adapter(settings.download_clients[0], settings, clock)


def first_client_enforcer(settings: Settings, adapter: Any) -> LimitEnforcer:
    return make_enforcer(settings.download_clients[0], adapter, settings)


def served_metrics(status_listen: str, registry: Callable[[], Any]) -> Any:
    """The metrics registry when /metrics is served; without a status server nothing is counted."""
    return registry() if status_listen else None


def make_metrics_registry() -> Any:
    from application.metrics import MetricsRegistry

    return MetricsRegistry(version=__version__, build=version_module.BUILD)


def make_reloader(config_path: Optional[str], settings: Settings, runner: DaemonRunner, dry_run: bool) -> Any:
    """SIGHUP: a new container per reload builds the new parts; only with a config file to re-read."""
    if not config_path:
        return None
    from application.reload import ConfigReloader

    return ConfigReloader(config_path, settings, runner, lambda new: Container(settings=new, dry_run=dry_run,
                                                                                config_path=config_path))


def make_daemon(settings: Settings, runner: DaemonRunner, reloader: Any, **parts: Callable[[], Any]) -> Any:
    """The observers and companions the config asks for; the optional ones are built only then."""
    from application.daemon import Daemon

    observers: List[Any] = []
    companions: List[Any] = []
    on_start: List[Callable[[], None]] = []
    if settings.notify:
        observers.append(parts["notification_policy"]())
    if settings.status_listen:
        if settings.history_days:
            companions.append(parts["history_recorder"]())
            observers.append(parts["history_observer"]())
        status = parts["daemon_status"]()
        on_start.append(status.restore_override)
        observers.append(status)
        companions.append(parts["status_server"]())
    companions.extend(parts["event_listeners"]())
    if settings.notify:
        companions.append(parts["notification_dispatcher"]())
    return Daemon(runner, observers, companions, reloader, on_start)


def make_history_recorder(state_dir: Optional[str], history_days: int) -> Any:
    """The history in state_dir (with the status server only: the dashboard is what reads it)."""
    import os

    from adapters.history import HistoryRecorder
    from application.state_files import default_state_dir

    return HistoryRecorder(os.path.join(state_dir or default_state_dir(), "history.sqlite3"), keep_days=history_days)


def make_history_observer(recorder: Any) -> Any:
    from adapters.history import HistoryObserver

    return HistoryObserver(recorder)


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


def local_time_for(timezone: str) -> Callable[[float], Any]:
    """The schedule's local time: in `timezone`, or the machine's zone (which follows TZ)."""
    if not timezone:
        return local_time_in(None)
    from zoneinfo import ZoneInfo

    return local_time_in(ZoneInfo(timezone))


def kinds_of(settings: Settings) -> Dict[str, str]:
    return {e.name: e.type for e in (*settings.media_servers, *settings.download_clients)}


def labels_of(settings: Settings) -> Dict[str, str]:
    return side_labels([(s.name, s.type) for s in settings.media_servers] + [(c.name, c.type) for c in settings.download_clients])


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
        # an event-triggered observation sooner than half a poll interval advances no streak
        min_count_interval_sec=settings.poll_interval_sec / 2,
        schedule=tuple(settings.schedule),
    )


def build_policy(settings: Settings) -> LimitPolicy:
    # without an idle limit the clients keep their own (the enforcers restore it): the budget is 0
    idle = UploadLimit(settings.idle_upload_kbps or 0)
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

    # Gateways: the first media server and download client are providers of their own, so that tests
    # (and --demo) can replace them; the others are built alongside (application/composition.py)
    stream_source = providers.Singleton(first_media_server_source, settings)
    upload_limiter = providers.Singleton(first_client_adapter, settings, clock)
    enforcer = providers.Singleton(first_client_enforcer, settings, upload_limiter)
    media_servers = providers.Callable(build_media_servers, settings, stream_source)
    client_slots = providers.Callable(build_client_slots, settings, upload_limiter, enforcer.provider, clock)

    # Services
    decider = providers.Factory(build_decider, settings=settings)
    service = providers.Singleton(
        ThrottleService,
        source=media_servers,
        enforcer=client_slots,
        decider=decider,
        clock=clock,
        dry_run=dry_run,
        reconcile_interval_sec=settings.provided.reconcile_interval_sec,
        local_time=providers.Callable(local_time_for, settings.provided.timezone),
        download_budget=providers.Callable(lambda kib: None if kib is None else UploadLimit(kib),
                                           settings.provided.streaming_download_kbps),
        rebalance=settings.provided.rebalance,
    )
    # the rule in force, read at each poll: a reload replaces the service's decider
    tick_logger = providers.Singleton(
        TickLogger,
        current_rule=providers.Callable(current_rule_of, service),
        labels=providers.Callable(labels_of, settings),
    )
    notification_dispatcher = providers.Singleton(
        make_notification_dispatcher, specs=settings.provided.notify, timeout_sec=settings.provided.http_timeout_sec
    )
    notification_policy = providers.Singleton(
        make_notification_policy, dispatcher=notification_dispatcher, after_failures=settings.provided.notify_after_failures,
        labels=providers.Callable(labels_of, settings),
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
    history_recorder = providers.Singleton(make_history_recorder, settings.provided.state_dir, settings.provided.history_days)
    history_observer = providers.Singleton(make_history_observer, history_recorder)
    daemon_status = providers.Singleton(
        make_daemon_status, runner=runner, metrics=metrics, override_store=override_store,
        notifications=notification_policy, kinds=providers.Callable(kinds_of, settings),
        current_rule=providers.Callable(current_rule_of, service),
        history=providers.Callable(lambda days, recorder: recorder() if days else None,
                                   settings.provided.history_days, history_recorder.provider),
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
    event_listeners = providers.Singleton(make_event_listeners, settings, runner.provided.request_observation)

    # The daemon: the loop with what observes it, what runs beside it, and the reload on SIGHUP
    config_path = providers.Object(None)
    reloader = providers.Singleton(make_reloader, config_path, settings, runner, dry_run)
    daemon = providers.Singleton(
        make_daemon,
        settings=settings,
        runner=runner,
        reloader=reloader,
        notification_policy=notification_policy.provider,
        notification_dispatcher=notification_dispatcher.provider,
        daemon_status=daemon_status.provider,
        status_server=status_server.provider,
        history_recorder=history_recorder.provider,
        history_observer=history_observer.provider,
        event_listeners=event_listeners.provider,
    )
