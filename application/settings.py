"""The validated configuration, as plain values.

Limits and capacities (`*_kbps`) are whole KiB/s whatever unit the config used ("20 Mbit/s" is 2441),
0 meaning unlimited; durations are seconds. The config's bounds hold for every value here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Tuple

from domain.sessions import IPNetwork


@dataclass(frozen=True)
class Settings:
    plex_url: str
    plex_token: str = field(repr=False)
    qbittorrent_url: str
    qbittorrent_username: str = ""
    qbittorrent_password: str = field(default="", repr=False)
    qbittorrent_api_key: str = field(default="", repr=False)
    idle_upload_kbps: int = 0
    streaming_upload_kbps: int = 500
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
    state_dir: Optional[str] = None

    def secrets(self) -> Tuple[str, ...]:
        """Every secret value, so that output can be checked against them."""
        found = [self.plex_token, self.qbittorrent_password, self.qbittorrent_api_key, self.status_token]
        for target in self.notify:
            found += [str(target.get(key) or "") for key in ("bot_token", "token")]
            found += [str(v) for v in (target.get("headers") or {}).values()]
        return tuple(s for s in found if s)
