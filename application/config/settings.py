"""The validated configuration, as plain values.

Limits and capacities (`*_kbps`) are whole KiB/s whatever unit the config used ("20 Mbit/s" is 2441),
0 meaning unlimited; durations are seconds. The config's bounds hold for every value here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple, Union

from domain.sessions import IPNetwork


@dataclass(frozen=True)
class MediaServerSettings:
    """One entry of `media_servers` (or the flat shorthand's Plex, named `plex`)."""

    name: str
    type: str  # plex, jellyfin, emby
    url: str
    token: str = field(default="", repr=False)  # Plex's token, or Jellyfin's / Emby's API key
    verify_tls: bool = True
    ca_file: Optional[str] = None
    events: bool = True  # listen to the server's push channel
    default_stream_kbps: int = 8000  # kbit/s: a stream that reports no bit rate (Plex without Session too)


@dataclass(frozen=True)
class DownloadClientSettings:
    """One entry of `download_clients` (or the flat shorthand's qBittorrent, named `qbittorrent`)."""

    name: str
    type: str  # qbittorrent, transmission, deluge, sabnzbd, nzbget
    url: str
    username: str = ""
    password: str = field(default="", repr=False)
    api_key: str = field(default="", repr=False)
    verify_tls: bool = True
    ca_file: Optional[str] = None
    limit_mode: str = "global"
    login_retry_sec: float = 300.0
    weight: int = 1
    streaming_upload_kbps: Optional[int] = None  # its own fixed limit, taken out of the budget
    directions: Tuple[str, ...] = ()  # "upload", "download"; empty: the type's (upload, or download for Usenet)


@dataclass(frozen=True)
class MqttSettings:
    """The `mqtt` object: the Home Assistant bridge (application/config/mqtt.py reads it)."""

    url: str  # mqtt://host:1883 or mqtts://host:8883
    username: str = ""
    password: str = field(default="", repr=False)
    topic_prefix: str = "plex-helper"
    discovery_prefix: str = "homeassistant"


@dataclass(frozen=True)
class LineMeterSettings:
    """The `line_meter` object: where the line's byte counters come from (application/config/line.py)."""

    type: str  # upnp, snmp, host
    url: str = ""  # upnp: the router's description URL; empty: found by SSDP
    host: str = ""  # snmp
    port: int = 161  # snmp
    community: str = field(default="", repr=False)  # snmp v2c: a password in all but name
    interface: Union[int, str] = ""  # snmp: ifIndex or ifName/ifDescr; host: the name in /proc/net/dev


@dataclass(frozen=True)
class Settings:
    plex_url: str = ""  # the flat shorthand; media_servers holds every server either way
    plex_token: str = field(default="", repr=False)
    qbittorrent_url: str = ""
    qbittorrent_username: str = ""
    qbittorrent_password: str = field(default="", repr=False)
    qbittorrent_api_key: str = field(default="", repr=False)
    idle_upload_kbps: Optional[int] = None  # None: each client's own limit, as found
    streaming_upload_kbps: int = 500
    streaming_download_kbps: Optional[int] = None  # SABnzbd's and NZBGet's, while streaming
    rebalance: bool = False
    poll_interval_sec: float = 10.0
    streaming_threshold: int = 2
    idle_threshold: int = 3
    count_states: Tuple[str, ...] = ("playing",)
    plex_down_restore_after_sec: float = 300.0
    restore_on_exit: bool = True
    reconcile_interval_sec: float = 60.0
    http_timeout_sec: float = 10.0
    login_retry_sec: float = 300.0
    plex_verify_tls: bool = True
    plex_ca_file: Optional[str] = None
    qbittorrent_verify_tls: bool = True
    qbittorrent_ca_file: Optional[str] = None
    lan_networks: Tuple[IPNetwork, ...] = ()
    ignore_users: Tuple[str, ...] = ()
    limit_policy: str = "fixed"  # fixed, tiers, dynamic
    streaming_tiers: Tuple[Tuple[int, int], ...] = ()  # (streams, upload_kbps in KiB/s)
    upload_capacity_kbps: int = 0  # 0: not set (only the dynamic policy needs it)
    stream_overhead_factor: float = 1.2
    min_upload_kbps: int = 10
    dynamic_deadband_percent: float = 10.0
    limit_mode: str = "global"  # global, alternative
    plex_events: bool = True
    max_transitions_per_hour: int = 0
    notify: Tuple[Mapping[str, Any], ...] = field(default=(), repr=False)  # targets can hold tokens
    notify_after_failures: int = 3
    status_listen: str = ""
    status_token: str = field(default="", repr=False)
    status_allowed_hosts: Tuple[str, ...] = ()  # Host names served beyond the machine's own (a reverse proxy's)
    status_allow_lan_override: bool = False  # without a token: the override from the LAN too, not only loopback
    status_token_guards_reading: bool = False  # the page, /health's details, /metrics and the history need the token
    state_dir: Optional[str] = None
    schedule: Tuple[Any, ...] = ()  # domain.schedule.Window values
    timezone: str = ""  # the schedule's zone; empty: the machine's
    history_days: int = 30  # 0: no history
    media_servers: Tuple[MediaServerSettings, ...] = ()
    download_clients: Tuple[DownloadClientSettings, ...] = ()
    mqtt: Optional[MqttSettings] = None  # the Home Assistant bridge; None: off, paho never imported
    # the measured line (docs/line-meter.md): capacities 0 = not measured in that direction
    line_upload_kbps: int = 0
    line_download_kbps: int = 0
    line_headroom_percent: float = 10.0
    line_meter: Optional[LineMeterSettings] = None

    def __post_init__(self) -> None:
        # built in code (tests, the demo) from the flat fields alone: the lists follow from them
        if not self.media_servers and self.plex_url:
            object.__setattr__(self, "media_servers", (MediaServerSettings(
                "plex", "plex", self.plex_url, self.plex_token, self.plex_verify_tls, self.plex_ca_file, self.plex_events),))
        if not self.download_clients and self.qbittorrent_url:
            object.__setattr__(self, "download_clients", (DownloadClientSettings(
                "qbittorrent", "qbittorrent", self.qbittorrent_url, self.qbittorrent_username, self.qbittorrent_password,
                self.qbittorrent_api_key, self.qbittorrent_verify_tls, self.qbittorrent_ca_file, self.limit_mode,
                self.login_retry_sec),))

    def secrets(self) -> Tuple[str, ...]:
        """Every secret value, so that output can be checked against them."""
        found = [self.plex_token, self.qbittorrent_password, self.qbittorrent_api_key, self.status_token]
        found += [server.token for server in self.media_servers]
        found += [secret for client in self.download_clients for secret in (client.password, client.api_key)]
        found += [self.mqtt.password] if self.mqtt is not None else []
        found += [self.line_meter.community] if self.line_meter is not None else []
        for target in self.notify:
            found += [str(target.get(key) or "") for key in ("bot_token", "token")]
            found += [str(target.get("user") or "")] if target.get("type") == "pushover" else []
            found += [str(v) for v in (target.get("headers") or {}).values()]
        return tuple(s for s in found if s)
