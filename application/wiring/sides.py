"""The media servers and download clients, built by type for every configured one.

A stand-in given by name (tests, `--demo`) takes the place of the adapter of that name; its
enforcers and share are built as for the real one. Adapters other than Plex and qBittorrent are
imported only when configured: each costs memory on a small NAS that most users never need.
"""
from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable, Dict, Iterable, List, Mapping, Optional, Tuple

from adapters.clients.alternative_mode import AlternativeModeEnforcer
from adapters.clients.enforcers import GlobalLimitEnforcer, limit_control_of
from application.client_slot import ClientSlot
from application.config.settings import DownloadClientSettings, MediaServerSettings, Settings
from application.service import MediaServer
from application.version import __version__
from domain.allocation import ClientShare
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import ClientAdapter, LimitEnforcer, StreamSource, TransferRates

if TYPE_CHECKING:
    from adapters.system.state_files import JsonStateFile

Clock = Callable[[], float]
DOWNLOAD_ONLY = frozenset({"sabnzbd", "nzbget"})


# ------------------------------------------------------------------ one adapter per type (the aggregates)

def plex_source(server: MediaServerSettings, settings: Settings) -> StreamSource:
    from adapters.media.plex.source import PlexStreamSource

    return PlexStreamSource(
        server.url, server.token, timeout_sec=settings.http_timeout_sec, verify_tls=server.verify_tls,
        ca_file=server.ca_file, product_version=__version__, default_stream_kbps=server.default_stream_kbps,
    )


def jellyfin_source(server: MediaServerSettings, settings: Settings) -> StreamSource:
    """Jellyfin or Emby (server.type says which: they share an API)."""
    from adapters.media.jellyfin.source import KINDS, JellyfinStreamSource

    return JellyfinStreamSource(
        KINDS[server.type], server.url, server.token, name=server.name, timeout_sec=settings.http_timeout_sec,
        verify_tls=server.verify_tls, ca_file=server.ca_file, lan_networks=settings.lan_networks,
        default_stream_kbps=server.default_stream_kbps,
    )


def qbittorrent_client(client: DownloadClientSettings, settings: Settings, clock: Clock) -> ClientAdapter:
    from adapters.clients.qbittorrent.client import QBittorrentClient

    return QBittorrentClient(client.url, username=client.username, password=client.password,
                                    api_key=client.api_key, timeout_sec=settings.http_timeout_sec,
                                    verify_tls=client.verify_tls, ca_file=client.ca_file,
                                    login_retry_sec=client.login_retry_sec, clock=clock)


def transmission_client(client: DownloadClientSettings, settings: Settings, clock: Clock) -> ClientAdapter:
    from adapters.clients.transmission.client import TransmissionClient

    return TransmissionClient(client.url, username=client.username, password=client.password,
                              timeout_sec=settings.http_timeout_sec, verify_tls=client.verify_tls,
                              ca_file=client.ca_file, login_retry_sec=client.login_retry_sec, clock=clock)


def deluge_client(client: DownloadClientSettings, settings: Settings, clock: Clock) -> ClientAdapter:
    from adapters.clients.deluge.client import DelugeClient

    return DelugeClient(client.url, password=client.password, timeout_sec=settings.http_timeout_sec,
                        verify_tls=client.verify_tls, ca_file=client.ca_file,
                        login_retry_sec=client.login_retry_sec, clock=clock)


def sabnzbd_client(client: DownloadClientSettings, settings: Settings, clock: Clock) -> ClientAdapter:
    from adapters.clients.sabnzbd import SabnzbdClient

    return SabnzbdClient(client.url, client.api_key, timeout_sec=settings.http_timeout_sec,
                         verify_tls=client.verify_tls, ca_file=client.ca_file,
                         login_retry_sec=client.login_retry_sec, clock=clock)


def nzbget_client(client: DownloadClientSettings, settings: Settings, clock: Clock) -> ClientAdapter:
    from adapters.clients.nzbget import NzbgetClient

    # NZBGet's own default user: a config with only a password means that one
    return NzbgetClient(client.url, username=client.username or "nzbget", password=client.password,
                        timeout_sec=settings.http_timeout_sec, verify_tls=client.verify_tls,
                        ca_file=client.ca_file, login_retry_sec=client.login_retry_sec, clock=clock)


# ------------------------------------------------------------------ one adapter per configured name

def check_override_names(given: Iterable[str], configured: Iterable[str], what: str) -> None:
    """A stand-in for a name the config lacks would leave the real adapter in place: say so."""
    names = sorted(configured)
    unknown = sorted(set(given) - set(names))
    if unknown:
        raise ValueError("%s names %s, which the config does not (it has %s)"
                         % (what, ", ".join(unknown), ", ".join(names) or "none"))


def media_source_named(name: str, settings: Settings, by_type: Callable[..., StreamSource],
                       overrides: Mapping[str, StreamSource]) -> StreamSource:
    """The adapter of the media server `name`: its stand-in, else built by type."""
    check_override_names(overrides, (s.name for s in settings.media_servers), "media_server_overrides")
    if name in overrides:
        return overrides[name]
    server = {s.name: s for s in settings.media_servers}[name]
    return by_type(server.type, server)


def client_adapter_named(name: str, settings: Settings, by_type: Callable[..., ClientAdapter],
                         overrides: Mapping[str, ClientAdapter]) -> ClientAdapter:
    """The adapter of the download client `name`: its stand-in, else built by type."""
    check_override_names(overrides, (c.name for c in settings.download_clients), "download_client_overrides")
    if name in overrides:
        return overrides[name]
    client = {c.name: c for c in settings.download_clients}[name]
    return by_type(client.type, client)


def media_servers_of(settings: Settings, source_named: Callable[[str], StreamSource]) -> List[MediaServer]:
    return [MediaServer(server.name, source_named(server.name)) for server in settings.media_servers]


def is_limited(client: DownloadClientSettings, settings: Settings) -> bool:
    """Downloads are touched only when the config sets a download budget."""
    return client.type not in DOWNLOAD_ONLY or settings.streaming_download_kbps is not None


def client_adapters_of(settings: Settings, adapter_named: Callable[[str], ClientAdapter]) -> Dict[str, ClientAdapter]:
    """The adapter of every client plex-helper limits, by name, in the config's order."""
    return {c.name: adapter_named(c.name) for c in settings.download_clients if is_limited(c, settings)}


# ------------------------------------------------------------------ what limits each client

def enforcer_memory(state_dir: Optional[str], client: str, limit_mode: str,
                    direction: Direction = Direction.UPLOAD) -> JsonStateFile:
    """Where an enforcer remembers what it changed. The flat config's client keeps the file names of
    the first version, so a throttle left by it before an upgrade is still undone; a download limit
    has a file of its own beside the upload one."""
    from adapters.system.state_files import ALTERNATIVE_MODE_FILE, GLOBAL_LIMIT_FILE, JsonStateFile, default_state_dir

    name = ALTERNATIVE_MODE_FILE if limit_mode == "alternative" and direction is Direction.UPLOAD else GLOBAL_LIMIT_FILE
    if direction is Direction.DOWNLOAD:
        name = "download-" + name
    if client != "qbittorrent":
        name = "%s-%s" % (client, name)
    return JsonStateFile(os.path.join(state_dir or default_state_dir(), name))


def directions_of(client: DownloadClientSettings) -> Tuple[Direction, ...]:
    """The directions plex-helper limits a client in: as configured, else upload for a torrent client
    and download for a Usenet client (which only downloads)."""
    if client.directions:
        return tuple(Direction(d) for d in client.directions)
    return (Direction.DOWNLOAD,) if client.type in DOWNLOAD_ONLY else (Direction.UPLOAD,)


def enforcers_of(client: DownloadClientSettings, adapter: ClientAdapter,
                 settings: Settings) -> Dict[Direction, LimitEnforcer]:
    """One enforcer per direction the client is limited in, each remembering in a file of its own."""
    enforcers: Dict[Direction, LimitEnforcer] = {}
    for direction in directions_of(client):
        memory = enforcer_memory(settings.state_dir, client.name, client.limit_mode, direction)
        if direction is Direction.UPLOAD and client.limit_mode == "alternative":
            # puts back what it changed: idle is the user's own anyway
            enforcers[direction] = AlternativeModeEnforcer(adapter, memory, client=client.name)
            continue
        # downloads: idle is always the user's own (no idle download limit is configured)
        own_idle = direction is Direction.DOWNLOAD or settings.idle_upload_kbps is None
        enforcers[direction] = GlobalLimitEnforcer(limit_control_of(adapter, direction), memory, own_idle=own_idle,
                                                   client=client.name)
    return enforcers


def client_slots_of(settings: Settings, adapters: Mapping[str, ClientAdapter]) -> List[ClientSlot]:
    """Every limited client with its enforcers and its share of the budget."""
    slots = []
    for client in settings.download_clients:
        if client.name not in adapters:
            continue
        adapter = adapters[client.name]
        fixed = None if client.streaming_upload_kbps is None else SpeedLimit(client.streaming_upload_kbps)
        rates = adapter if isinstance(adapter, TransferRates) else None
        slots.append(ClientSlot(client.name, enforcers_of(client, adapter, settings),
                                ClientShare(client.name, client.weight, fixed), rates=rates))
    return slots
