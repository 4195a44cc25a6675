"""One direction of Deluge's global limit as a LimitControl.

Deluge keeps `max_upload_speed` / `max_download_speed` as a float of KiB/s (-1.0 = unlimited) and
stores whatever it is sent, so the native value is that float exactly as core.get_config_values
gave it, and restoring writes it back unchanged: 2.5 stays 2.5, -1.0 stays -1.0.
"""
from __future__ import annotations

from typing import Any, Mapping, Protocol

from adapters.clients.deluge.rpc import from_deluge_kib, native_kib, parse_kib, to_deluge_kib
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import HeldLimit

KEYS = {Direction.UPLOAD: "max_upload_speed", Direction.DOWNLOAD: "max_download_speed"}


class _Config(Protocol):
    """What the control needs of DelugeClient (adapters/clients/deluge/client.py)."""

    def config_values(self, key: str) -> Any: ...
    def set_config(self, values: Mapping[str, Any]) -> None: ...


class DelugeLimit:
    """LimitControl for one direction; native = the KiB/s float as Deluge holds it."""

    def __init__(self, client: _Config, direction: Direction) -> None:
        self.direction = direction
        self._client = client
        self._key = KEYS[direction]

    def __repr__(self) -> str:
        return "DelugeLimit(%s)" % self.direction.value

    def read_limit(self) -> HeldLimit:
        value = parse_kib(self._client.config_values(self._key), self._key)
        return HeldLimit(from_deluge_kib(value), value)

    def write_limit(self, limit: SpeedLimit) -> None:
        self._client.set_config({self._key: to_deluge_kib(limit)})

    def restore_limit(self, native: Any) -> None:
        self._client.set_config({self._key: native_kib(native, self._key)})
