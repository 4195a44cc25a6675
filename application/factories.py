"""The factories the container (application/container.py) calls to build the daemon's parts.

Each takes what the config and the other parts give, and returns one part: the first media server
and download client (providers of their own, so that tests and --demo can replace them), the
notifications, the push listeners, the metrics, the history, the status server and its client,
and the Daemon that runs them beside the loop. The container alone calls them: it stays the one
place that decides what is built and when.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence

from application import version as version_module
from application.composition import make_client_adapter, make_enforcer, make_media_server_source
from application.observers.reporting import side_labels
from application.loop.runner import DaemonRunner
from application.service import ThrottleService, local_time_in
from application.config.settings import Settings
from application.version import __version__
from domain.ports import LimitEnforcer, StreamSource
from domain.sessions import RemoteStreamRule

# The optional parts (notifications, Plex events, the status server) are imported only when
# configured: each costs memory on a small NAS that most users never need.


def make_notification_dispatcher(specs: Sequence[Mapping[str, Any]], timeout_sec: float) -> Any:
    from adapters.notify.senders import NotificationDispatcher, build_target

    return NotificationDispatcher([build_target(spec) for spec in specs], timeout_sec=timeout_sec)


def make_notification_policy(dispatcher: Any, after_failures: int, labels: Mapping[str, str]) -> Any:
    from adapters.notify.senders import Notification
    from application.observers.notifications import NotificationPolicy

    return NotificationPolicy(dispatcher, Notification, after_failures=after_failures, labels=labels)


def make_event_listeners(settings: Settings, request_observation: Callable[..., None]) -> List[Any]:
    """A push listener per media server that has `events` on: Plex's event stream, Jellyfin's and
    Emby's WebSocket. Each triggers an observation through the normal read."""
    listeners: List[Any] = []
    for server in settings.media_servers:
        if not server.events:
            continue
        if server.type == "plex":
            from adapters.media.plex.events import PlexEventListener

            listeners.append(PlexEventListener(
                server.url, server.token, on_playback=request_observation, timeout_sec=settings.http_timeout_sec,
                verify_tls=server.verify_tls, ca_file=server.ca_file, product_version=__version__,
            ))
        else:
            from adapters.media.jellyfin.source import KINDS
            from adapters.media.jellyfin.events import JellyfinEventListener

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
    from application.observers.metrics import MetricsRegistry

    return MetricsRegistry(version=__version__, build=version_module.BUILD)


def make_daemon(settings: Settings, runner: DaemonRunner, reloader: Any, **parts: Callable[[], Any]) -> Any:
    """The observers and companions the config asks for; the optional ones are built only then."""
    from application.daemon import Daemon

    observers: List[Any] = []
    companions: List[Any] = []
    on_start: List[Callable[[], None]] = []
    if settings.notify:
        observers.append(parts["notification_policy"]())
    if settings.status_listen and settings.history_days:
        companions.append(parts["history_recorder"]())
        observers.append(parts["history_observer"]())
    if settings.status_listen or settings.mqtt is not None:  # the override's path, for both
        status = parts["daemon_status"]()
        on_start.append(status.restore_override)
        observers.append(status)
    if settings.status_listen:
        companions.append(parts["status_server"]())
    if settings.mqtt is not None:
        bridge = parts["mqtt_bridge"]()
        observers.append(bridge)
        companions.append(bridge)
    companions.extend(parts["event_listeners"]())
    if settings.notify:
        companions.append(parts["notification_dispatcher"]())
    return Daemon(runner, observers, companions, reloader, on_start)


def make_mqtt_bridge(settings: Settings, overrides: Any) -> Any:
    """The Home Assistant bridge (`mqtt`); paho is imported when it starts. The temporary limit is
    not part of this build: the bridge leaves its entities out and says so once."""
    from adapters.smarthome.mqtt import MqttBridge
    from application.composition import DOWNLOAD_ONLY

    mqtt = settings.mqtt
    assert mqtt is not None
    clients = [(c.name, "download" if c.type in DOWNLOAD_ONLY else "upload") for c in settings.download_clients
               if c.type not in DOWNLOAD_ONLY or settings.streaming_download_kbps is not None]
    return MqttBridge(
        mqtt.url, overrides, clients, username=mqtt.username, password=mqtt.password, topic_prefix=mqtt.topic_prefix,
        discovery_prefix=mqtt.discovery_prefix, set_temporary_limit=overrides.set_temporary_limit,
        download_budget_kib=settings.streaming_download_kbps, version=__version__,
    )


def make_history_recorder(state_dir: Optional[str], history_days: int) -> Any:
    """The history in state_dir (with the status server only: the dashboard is what reads it)."""
    import os

    from adapters.history.store import HistoryRecorder
    from adapters.system.state_files import default_state_dir

    return HistoryRecorder(os.path.join(state_dir or default_state_dir(), "history.sqlite3"), keep_days=history_days)


def make_history_observer(recorder: Any) -> Any:
    from adapters.history.store import HistoryObserver

    return HistoryObserver(recorder)


def make_override_store(state_dir: Optional[str]) -> Any:
    from adapters.system.state_files import OverrideStore, default_state_dir

    return OverrideStore(state_dir or default_state_dir())


def make_daemon_status(**kwargs: Any) -> Any:
    from application.observers.status import DaemonStatus

    return DaemonStatus(**kwargs)


def make_status_server(**kwargs: Any) -> Any:
    from adapters.status.server import StatusHttpServer

    return StatusHttpServer(**kwargs)


def make_status_client(listen: str, token: str) -> Any:
    from adapters.status.server import StatusClient, url_for_listen

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
