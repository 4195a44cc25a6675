"""What differs between Jellyfin and Emby, stated once: `ServerKind` and its two values.

Both servers answer with the same SessionInfo list; what differs (paths, how the API key travels,
the push channel's address) is here. The session parsing (adapters/media/jellyfin/sessions.py), the
transport (adapters/media/jellyfin/source.py) and the push channel (adapters/media/jellyfin/events.py) all read it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional


@dataclass(frozen=True)
class ServerKind:
    """Everything that differs between Jellyfin and Emby, in one place."""

    name: str  # the config's `type`
    label: str  # for messages
    api_prefix: str  # before every API path
    push_path: str  # the WebSocket endpoint
    push_key_param: str  # the query parameter that carries the API key on the WebSocket
    push_device_param: Optional[str]  # Emby wants a device id on the WebSocket; Jellyfin 10.8+ ignores it
    network_config_path: str  # where LocalNetworkSubnets can be read (admin / API key)
    sessions_query: str  # Jellyfin filters server-side; Emby's parameter is not documented

    def auth_headers(self, api_key: str) -> Dict[str, str]:
        # Jellyfin: only Token in the Authorization header (Client/Device would register a device for
        # the key; the server fills them in for API keys). X-Emby-Token is legacy there (off from 12.0).
        if self.name == "jellyfin":
            return {"Authorization": 'MediaBrowser Token="%s"' % api_key}
        return {"X-Emby-Token": api_key}


JELLYFIN = ServerKind("jellyfin", "Jellyfin", "", "/socket", "ApiKey", None,
                      "/System/Configuration/network", "?activeWithinSeconds=960")
EMBY = ServerKind("emby", "Emby", "/emby", "/embywebsocket", "api_key", "deviceId", "/System/Configuration", "")
KINDS = {JELLYFIN.name: JELLYFIN, EMBY.name: EMBY}


__all__ = ["EMBY", "JELLYFIN", "KINDS", "ServerKind"]
