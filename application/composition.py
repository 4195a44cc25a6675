"""What the container builds for each configured media server and download client.

Adapters other than Plex and qBittorrent are imported only when configured: each costs memory on a
small NAS that most users never need.
"""
from __future__ import annotations

import os
from typing import Any, Callable, Dict, List, Optional, Tuple

from adapters.clients.alternative_mode import AlternativeModeEnforcer
from adapters.clients.enforcers import GlobalLimitEnforcer, limit_control_of
from application.client_slot import ClientSlot
from application.service import MediaServer
from application.config.settings import DownloadClientSettings, MediaServerSettings, Settings
from application.version import __version__
from domain.allocation import ClientShare
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import StreamSource, TransferRates


def make_media_server_source(server: MediaServerSettings, settings: Settings) -> StreamSource:
    if server.type == "plex":
        from adapters.media.plex.source import PlexStreamSource

        return PlexStreamSource(
            server.url, server.token, timeout_sec=settings.http_timeout_sec, verify_tls=server.verify_tls,
            ca_file=server.ca_file, product_version=__version__, default_stream_kbps=server.default_stream_kbps,
        )
    from adapters.media.jellyfin.source import KINDS, JellyfinStreamSource

    return JellyfinStreamSource(
        KINDS[server.type], server.url, server.token, name=server.name, timeout_sec=settings.http_timeout_sec,
        verify_tls=server.verify_tls, ca_file=server.ca_file, lan_networks=settings.lan_networks,
        default_stream_kbps=server.default_stream_kbps,
    )


def build_media_servers(settings: Settings, first: StreamSource) -> List[MediaServer]:
    """Every configured server; the first one's adapter comes from the container (tests replace it)."""
    return [
        MediaServer(server.name, first if index == 0 else make_media_server_source(server, settings))
        for index, server in enumerate(settings.media_servers)
    ]


def make_client_adapter(client: DownloadClientSettings, settings: Settings, clock: Callable[[], float]) -> Any:
    common = dict(timeout_sec=settings.http_timeout_sec, verify_tls=client.verify_tls, ca_file=client.ca_file,
                  login_retry_sec=client.login_retry_sec, clock=clock)
    if client.type == "qbittorrent":
        from adapters.clients.qbittorrent.client import QBittorrentUploadLimiter

        return QBittorrentUploadLimiter(client.url, username=client.username, password=client.password,
                                        api_key=client.api_key, **common)
    if client.type == "transmission":
        from adapters.clients.transmission.client import TransmissionClient

        return TransmissionClient(client.url, username=client.username, password=client.password, **common)
    if client.type == "deluge":
        from adapters.clients.deluge.client import DelugeClient

        return DelugeClient(client.url, password=client.password, **common)
    if client.type == "sabnzbd":
        from adapters.clients.sabnzbd import SabnzbdClient

        return SabnzbdClient(client.url, client.api_key, **common)
    from adapters.clients.nzbget import NzbgetClient

    return NzbgetClient(client.url, username=client.username or "nzbget", password=client.password, **common)


def enforcer_memory(state_dir: Optional[str], client: str, limit_mode: str,
                    direction: Direction = Direction.UPLOAD) -> Any:
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


DOWNLOAD_ONLY = frozenset({"sabnzbd", "nzbget"})


def directions_of(client: DownloadClientSettings) -> Tuple[Direction, ...]:
    """The directions plex-helper limits a client in: as configured, else upload for a torrent client
    and download for a Usenet client (which only downloads)."""
    if client.directions:
        return tuple(Direction(d) for d in client.directions)
    return (Direction.DOWNLOAD,) if client.type in DOWNLOAD_ONLY else (Direction.UPLOAD,)


def make_enforcers(client: DownloadClientSettings, adapter: Any, settings: Settings) -> Dict[Direction, Any]:
    """One enforcer per direction the client is limited in, each remembering in a file of its own."""
    enforcers: Dict[Direction, Any] = {}
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


def make_enforcer(client: DownloadClientSettings, adapter: Any, settings: Settings) -> Any:
    """The enforcers of the first client (the container's provider, which tests replace)."""
    return make_enforcers(client, adapter, settings)


def build_client_slots(settings: Settings, first: Any, first_enforcer: Callable[[], Any],
                       clock: Callable[[], float]) -> List[ClientSlot]:
    """Every configured client with its enforcers and share; the first one's come from the container."""
    slots = []
    for index, client in enumerate(settings.download_clients):
        if client.type in DOWNLOAD_ONLY and settings.streaming_download_kbps is None:
            continue  # downloads are touched only when the config sets a download budget
        if index == 0:
            adapter, enforcers = first, first_enforcer()
        else:
            adapter = make_client_adapter(client, settings, clock)
            enforcers = make_enforcers(client, adapter, settings)
        fixed = None if client.streaming_upload_kbps is None else SpeedLimit(client.streaming_upload_kbps)
        rates = adapter if isinstance(adapter, TransferRates) else None
        slots.append(ClientSlot(client.name, enforcers, ClientShare(client.name, client.weight, fixed), rates=rates))
    return slots
