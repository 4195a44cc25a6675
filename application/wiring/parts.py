"""The daemon's optional parts, each built only when the config asks for it: the notifications, the
push listeners, the metrics, the history, the status server and its client, the Home Assistant
bridge, and the Daemon that runs them beside the loop.

Each is imported only when configured: it costs memory on a small NAS that most users never need.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Mapping, Optional, Sequence, Union

from application import version as version_module
from application.config.settings import Settings
from application.loop.runner import DaemonRunner
from application.observers.reporting import side_labels
from application.service import ThrottleService
from application.version import __version__
from application.wiring.sides import DOWNLOAD_ONLY, is_limited
from domain.ports import TickObserver
from domain.sessions import RemoteStreamRule

if TYPE_CHECKING:
    from adapters.history.store import HistoryObserver, HistoryRecorder
    from adapters.media.jellyfin.events import JellyfinEventListener
    from adapters.media.plex.events import PlexEventListener
    from adapters.notify.queue import NotificationDispatcher
    from adapters.smarthome.mqtt import MqttBridge
    from adapters.status.client import StatusClient
    from adapters.status.server import StatusHttpServer
    from adapters.system.state_files import OverrideStore
    from application.daemon import Companion, Daemon
    from application.line_tracker import LineTracker
    from application.observers.metrics import MetricsRegistry
    from application.observers.notifications import NotificationPolicy
    from application.observers.status import DaemonStatus

EventListener = Union["PlexEventListener", "JellyfinEventListener"]


def make_notification_dispatcher(specs: Sequence[Mapping[str, Any]], timeout_sec: float) -> NotificationDispatcher:
    from adapters.notify.senders import NotificationDispatcher, build_target

    return NotificationDispatcher([build_target(spec) for spec in specs], timeout_sec=timeout_sec)


def make_notification_policy(dispatcher: NotificationDispatcher, after_failures: int,
                             labels: Mapping[str, str]) -> NotificationPolicy:
    from adapters.notify.senders import Notification
    from application.observers.notifications import NotificationPolicy

    return NotificationPolicy(dispatcher, Notification, after_failures=after_failures, labels=labels)


def make_event_listeners(settings: Settings, request_observation: Callable[..., None]) -> Dict[str, EventListener]:
    """A push listener per media server that has `events` on, by server name: Plex's event stream,
    Jellyfin's and Emby's WebSocket. Each triggers an observation through the normal read."""
    listeners: Dict[str, EventListener] = {}
    for server in settings.media_servers:
        if not server.events:
            continue
        if server.type == "plex":
            from adapters.media.plex.events import PlexEventListener

            listeners[server.name] = PlexEventListener(
                server.url, server.token, on_playback=request_observation, timeout_sec=settings.http_timeout_sec,
                verify_tls=server.verify_tls, ca_file=server.ca_file, product_version=__version__,
            )
        else:
            from adapters.media.jellyfin.events import JellyfinEventListener
            from adapters.media.jellyfin.source import KINDS

            listeners[server.name] = JellyfinEventListener(
                KINDS[server.type], server.url, server.token, trigger=request_observation,
                timeout_sec=settings.http_timeout_sec, verify_tls=server.verify_tls, ca_file=server.ca_file,
            )
    return listeners


def make_metrics_registry() -> MetricsRegistry:
    from application.observers.metrics import MetricsRegistry

    return MetricsRegistry(version=__version__, build=version_module.BUILD)


def served_metrics(status_listen: str, registry: Callable[[], MetricsRegistry]) -> Optional[MetricsRegistry]:
    """The metrics registry when /metrics is served; without a status server nothing is counted."""
    return registry() if status_listen else None


def restore_deadline_for(http_timeout_sec: float) -> float:
    """One request's deadline and a little: the exit is promised within http_timeout_sec + 1 s."""
    return http_timeout_sec + 0.5


def make_mqtt_bridge(settings: Settings, overrides: DaemonStatus) -> MqttBridge:
    """The Home Assistant bridge (`mqtt`); paho is imported when it starts. Its commands go to the
    daemon's override and temporary limits (`overrides`)."""
    from adapters.smarthome.mqtt import MqttBridge

    mqtt = settings.mqtt
    assert mqtt is not None  # built only when `mqtt` is configured (make_daemon)
    clients = [(c.name, "download" if c.type in DOWNLOAD_ONLY else "upload") for c in settings.download_clients
               if is_limited(c, settings)]
    return MqttBridge(
        mqtt.url, overrides, clients, username=mqtt.username, password=mqtt.password, topic_prefix=mqtt.topic_prefix,
        discovery_prefix=mqtt.discovery_prefix, set_temporary_limit=overrides.set_temporary_limit,
        download_budget_kib=settings.streaming_download_kbps, version=__version__,
    )


def make_history_recorder(state_dir: Optional[str], history_days: int) -> HistoryRecorder:
    """The history in state_dir (with the status server only: the dashboard is what reads it)."""
    from adapters.history.store import HistoryRecorder
    from adapters.system.state_files import default_state_dir

    return HistoryRecorder(os.path.join(state_dir or default_state_dir(), "history.sqlite3"), keep_days=history_days)


def make_history_observer(recorder: HistoryRecorder, line: Optional[LineTracker] = None) -> HistoryObserver:
    """With a line meter, each sample also keeps the measured line (the tracker's figures)."""
    from adapters.history.store import HistoryObserver

    return HistoryObserver(recorder, line=line.figures if line is not None else None)


def served_history(history_days: int, recorder: Callable[[], HistoryRecorder]) -> Optional[HistoryRecorder]:
    """The history the dashboard reads; none when `history_days` is 0."""
    return recorder() if history_days else None


def make_override_store(state_dir: Optional[str]) -> OverrideStore:
    from adapters.system.state_files import OverrideStore, default_state_dir

    return OverrideStore(state_dir or default_state_dir())


def make_daemon_status(runner: DaemonRunner, metrics: MetricsRegistry, override_store: OverrideStore,
                       notifications: NotificationPolicy, kinds: Mapping[str, str],
                       current_rule: Callable[[], RemoteStreamRule],
                       history: Optional[HistoryRecorder]) -> DaemonStatus:
    from application.observers.status import DaemonStatus

    return DaemonStatus(runner=runner, metrics=metrics, override_store=override_store, notifications=notifications,
                        kinds=kinds, current_rule=current_rule, history=history)


def make_status_server(listen: str, backend: DaemonStatus, token: str, allowed_hosts: Sequence[str],
                       allow_lan_override: bool, guard_reading: bool = False) -> StatusHttpServer:
    from adapters.status.server import StatusHttpServer

    return StatusHttpServer(listen=listen, backend=backend, token=token, allowed_hosts=allowed_hosts,
                            allow_lan_override=allow_lan_override, guard_reading=guard_reading)


def describe_served_hosts(listen: str, allowed_hosts: Sequence[str]) -> str:
    """The host names the status server answers (for --check)."""
    from adapters.status.server import served_hosts

    return served_hosts(listen, allowed_hosts).describe()


def make_status_client(listen: str, token: str) -> StatusClient:
    from adapters.status.server import StatusClient, url_for_listen

    return StatusClient(url_for_listen(listen), token=token)


def kinds_of(settings: Settings) -> Dict[str, str]:
    return {e.name: e.type for e in (*settings.media_servers, *settings.download_clients)}


def labels_of(settings: Settings) -> Dict[str, str]:
    return side_labels([(s.name, s.type) for s in settings.media_servers] +
                       [(c.name, c.type) for c in settings.download_clients])


def current_rule_of(service: ThrottleService) -> Callable[[], RemoteStreamRule]:
    """For the --verbose poll line and /health: the rule the service uses now (a reload replaces it)."""
    def current_rule() -> RemoteStreamRule:
        return service.decider.rule

    return current_rule


def make_daemon(
    settings: Settings,
    runner: DaemonRunner,
    reloader: Optional[Callable[[], bool]],
    notification_policy: Callable[[], NotificationPolicy],
    notification_dispatcher: Callable[[], NotificationDispatcher],
    daemon_status: Callable[[], DaemonStatus],
    status_server: Callable[[], StatusHttpServer],
    history_recorder: Callable[[], HistoryRecorder],
    history_observer: Callable[[], HistoryObserver],
    event_listeners: Callable[[], Dict[str, EventListener]],
    mqtt_bridge: Callable[[], MqttBridge],
) -> Daemon:
    """The observers and companions the config asks for; the optional ones are built only then (each
    part comes as its provider, called here or never)."""
    from application.daemon import Daemon

    observers: List[TickObserver] = []
    companions: List[Companion] = []
    on_start: List[Callable[[], None]] = []
    if settings.notify:
        observers.append(notification_policy())
    if settings.status_listen and settings.history_days:
        companions.append(history_recorder())
        observers.append(history_observer())
    if settings.status_listen or settings.mqtt is not None:  # the override's path, for both
        status = daemon_status()
        on_start.append(status.restore_override)
        observers.append(status)
    if settings.status_listen:
        companions.append(status_server())
    if settings.mqtt is not None:
        bridge = mqtt_bridge()
        observers.append(bridge)
        companions.append(bridge)
    listeners = event_listeners()
    if listeners:  # each poll's playback tells a silent push channel apart from a quiet server
        from application.observers.push_watch import PushWatch

        watch = PushWatch(listeners)
        observers.append(watch)
        if settings.status_listen or settings.mqtt is not None:
            status.push_health = watch.describe
    companions.extend(listeners.values())
    if settings.notify:
        companions.append(notification_dispatcher())
    return Daemon(runner, observers, companions, reloader, on_start)
