"""The composition root: the dependency-injector container, the one place that decides which
concrete parts are built, from what, and when.

The factories it calls are application/factories.py (the daemon's parts), application/decider_factory.py
(the decision parts for a config) and application/composition.py (a part per configured media server
and download client).
"""
from __future__ import annotations

import time
from typing import Any, Optional

from dependency_injector import containers, providers

from adapters.system.systemd import SystemdNotifier
from application.composition import build_client_slots, build_media_servers
from application.decider_factory import build_decider
from application.factories import (
    current_rule_of,
    first_client_adapter,
    first_client_enforcer,
    first_media_server_source,
    kinds_of,
    labels_of,
    local_time_for,
    make_daemon,
    make_daemon_status,
    make_event_listeners,
    make_history_observer,
    make_history_recorder,
    make_metrics_registry,
    make_mqtt_bridge,
    make_notification_dispatcher,
    make_notification_policy,
    make_override_store,
    make_status_client,
    make_status_server,
    served_metrics,
)
from application.observers.reporting import TickLogger
from application.loop.runner import DaemonRunner
from application.service import ThrottleService
from application.config.settings import Settings
from domain.policies import UploadLimit


# Here rather than in application/factories.py: each reload builds a new Container.
def make_reloader(config_path: Optional[str], settings: Settings, runner: DaemonRunner, dry_run: bool) -> Any:
    """SIGHUP: a new container per reload builds the new parts; only with a config file to re-read."""
    if not config_path:
        return None
    from application.reload import ConfigReloader

    return ConfigReloader(config_path, settings, runner, lambda new: Container(settings=new, dry_run=dry_run,
                                                                                config_path=config_path))


class Container(containers.DeclarativeContainer):
    """Every part of plex-helper, built from one Settings (a provider each; tests override some)."""

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
        allowed_hosts=settings.provided.status_allowed_hosts,
        allow_lan_override=settings.provided.status_allow_lan_override,
        guard_reading=settings.provided.status_token_guards_reading,
    )

    # Home Assistant over MQTT (mqtt): its mode select takes the status backend's override path
    mqtt_bridge = providers.Singleton(make_mqtt_bridge, settings=settings, overrides=daemon_status)

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
        mqtt_bridge=mqtt_bridge.provider,
    )
