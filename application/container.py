"""The composition root: the dependency-injector container, the one place that decides which
concrete parts are built, from what, and when. The daemon, `--check`, `--demo` and each SIGHUP
reload all build through it; what it calls lives in application/wiring/.

Every configured media server and download client is built by type (a FactoryAggregate each) and
can be replaced by name: `container.override_providers(media_server_overrides={"den": fake})` puts
a stand-in in place of the server named `den`, whichever of the list it is.
"""
from __future__ import annotations

import functools
import time
from typing import TYPE_CHECKING, Optional

from dependency_injector import containers, providers

from adapters.system.systemd import SystemdNotifier
from application.config.settings import Settings
from application.loop.runner import DaemonRunner
from application.observers.reporting import TickLogger
from application.wiring.line import make_line_tracker
from application.service import ThrottleService
from application.wiring import parts, sides
from application.wiring.decisions import build_decider, download_budget_of, local_time_for

if TYPE_CHECKING:
    from application.reload import ConfigReloader


def container_for(settings: Settings, dry_run: bool, config_path: Optional[str]) -> Container:
    return Container(settings=settings, dry_run=dry_run, config_path=config_path)


def make_reloader(config_path: Optional[str], settings: Settings, runner: DaemonRunner,
                  dry_run: bool) -> Optional[ConfigReloader]:
    """SIGHUP: a new container per reload builds the new parts; only with a config file to re-read."""
    if not config_path:
        return None
    from application.reload import ConfigReloader

    build = functools.partial(container_for, dry_run=dry_run, config_path=config_path)
    return ConfigReloader(config_path, settings, runner, build)


class Container(containers.DeclarativeContainer):
    """Every part of plex-helper, built from one Settings (a provider each; tests override some)."""

    settings = providers.Dependency(instance_of=Settings)
    dry_run = providers.Object(False)
    clock = providers.Object(time.monotonic)
    config_path = providers.Object(None)

    # Media servers and download clients: a stand-in by name (tests, --demo), else built by type
    media_server_overrides = providers.Object({})
    download_client_overrides = providers.Object({})
    media_source_by_type = providers.FactoryAggregate(
        plex=providers.Factory(sides.plex_source, settings=settings),
        jellyfin=providers.Factory(sides.jellyfin_source, settings=settings),
        emby=providers.Factory(sides.jellyfin_source, settings=settings),
    )
    client_adapter_by_type = providers.FactoryAggregate(
        qbittorrent=providers.Factory(sides.qbittorrent_client, settings=settings, clock=clock),
        transmission=providers.Factory(sides.transmission_client, settings=settings, clock=clock),
        deluge=providers.Factory(sides.deluge_client, settings=settings, clock=clock),
        sabnzbd=providers.Factory(sides.sabnzbd_client, settings=settings, clock=clock),
        nzbget=providers.Factory(sides.nzbget_client, settings=settings, clock=clock),
    )
    # one adapter by its configured name, new at each call (--check builds them one at a time)
    media_source = providers.Factory(sides.media_source_named, settings=settings,
                                     by_type=media_source_by_type.provider, overrides=media_server_overrides)
    client_adapter = providers.Factory(sides.client_adapter_named, settings=settings,
                                       by_type=client_adapter_by_type.provider, overrides=download_client_overrides)
    # the ones the service polls and limits: built once per container
    media_servers = providers.Singleton(sides.media_servers_of, settings, media_source.provider)
    client_adapters = providers.Singleton(sides.client_adapters_of, settings, client_adapter.provider)
    client_slots = providers.Singleton(sides.client_slots_of, settings, client_adapters)

    # The service: every ThrottleService is built here
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
        download_budget=providers.Callable(download_budget_of, settings.provided.streaming_download_kbps),
        rebalance=settings.provided.rebalance,
        line=providers.Singleton(make_line_tracker, settings, clock),  # None unless a line_meter is set
    )
    labels = providers.Callable(parts.labels_of, settings)
    # the rule in force, read at each poll: a reload replaces the service's decider
    current_rule = providers.Callable(parts.current_rule_of, service)
    tick_logger = providers.Singleton(TickLogger, current_rule=current_rule, labels=labels)

    # Notifications (notify)
    notification_dispatcher = providers.Singleton(
        parts.make_notification_dispatcher, specs=settings.provided.notify,
        timeout_sec=settings.provided.http_timeout_sec,
    )
    notification_policy = providers.Singleton(
        parts.make_notification_policy, dispatcher=notification_dispatcher,
        after_failures=settings.provided.notify_after_failures, labels=labels,
    )

    # The loop
    notifier = providers.Singleton(SystemdNotifier)
    metrics = providers.Singleton(parts.make_metrics_registry)
    runner = providers.Singleton(
        DaemonRunner,
        service=service,
        tick_logger=tick_logger,
        interval_sec=settings.provided.poll_interval_sec,
        restore_on_exit=settings.provided.restore_on_exit,
        notifier=notifier,
        restore_deadline_sec=providers.Callable(parts.restore_deadline_for, settings.provided.http_timeout_sec),
        metrics=providers.Callable(parts.served_metrics, settings.provided.status_listen, metrics.provider),
    )

    # Status: /health, /metrics, webhooks, the history and the override (status_listen)
    override_store = providers.Singleton(parts.make_override_store, state_dir=settings.provided.state_dir)
    history_recorder = providers.Singleton(parts.make_history_recorder, settings.provided.state_dir,
                                           settings.provided.history_days)
    history_observer = providers.Singleton(parts.make_history_observer, history_recorder, service.provided.line)
    daemon_status = providers.Singleton(
        parts.make_daemon_status, runner=runner, metrics=metrics, override_store=override_store,
        notifications=notification_policy, kinds=providers.Callable(parts.kinds_of, settings),
        current_rule=current_rule,
        history=providers.Callable(parts.served_history, settings.provided.history_days, history_recorder.provider),
    )
    status_server = providers.Singleton(
        parts.make_status_server, listen=settings.provided.status_listen, backend=daemon_status,
        token=settings.provided.status_token,
        allowed_hosts=settings.provided.status_allowed_hosts,
        allow_lan_override=settings.provided.status_allow_lan_override,
        guard_reading=settings.provided.status_token_guards_reading,
    )
    served_hosts = providers.Callable(parts.describe_served_hosts, settings.provided.status_listen,
                                      settings.provided.status_allowed_hosts)
    status_client = providers.Factory(
        parts.make_status_client, listen=settings.provided.status_listen, token=settings.provided.status_token
    )

    # Home Assistant over MQTT (mqtt): its mode select takes the status backend's override path
    mqtt_bridge = providers.Singleton(parts.make_mqtt_bridge, settings=settings, overrides=daemon_status)

    # Push listeners: optional background parts, started and stopped around the loop
    event_listeners = providers.Singleton(parts.make_event_listeners, settings, runner.provided.request_observation)

    # The daemon: the loop with what observes it, what runs beside it, and the reload on SIGHUP
    reloader = providers.Singleton(make_reloader, config_path, settings, runner, dry_run)
    daemon = providers.Singleton(
        parts.make_daemon,
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
        mqtt_bridge=mqtt_bridge.provider,
    )
