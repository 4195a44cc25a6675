"""One direction of Transmission's global limit as a LimitControl.

A Transmission limit is two settings: `speed-limit-up` (or `-down`) in the daemon's speed unit
(`units.speed-bytes`, kB/s = 1000 bytes on 3.00) and `speed-limit-up-enabled`. The native value is
both, exactly as session-get gave them ({"value": 1234, "enabled": true}): a limit of 1234 kB/s
comes back as 1234, not as the 1205 KiB/s it reads as, and a disabled limit keeps the value the user
had typed in, which Transmission shows again when the limit is switched back on.
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Protocol

from adapters.clients.transmission.rpc import from_transmission_units, native_limit_fields, parse_limit_fields
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import HeldLimit

KEYS = {
    Direction.UPLOAD: ("speed-limit-up", "speed-limit-up-enabled"),
    Direction.DOWNLOAD: ("speed-limit-down", "speed-limit-down-enabled"),
}


class _Settings(Protocol):
    """What the control needs of TransmissionClient (adapters/clients/transmission/client.py)."""

    def read_settings(self, *fields: str) -> Dict[str, Any]: ...
    def speed_bytes(self) -> int: ...
    def write_settings(self, arguments: Mapping[str, Any]) -> None: ...
    def write_limit_of(self, key: str, enabled_key: str, limit: SpeedLimit) -> None: ...


class TransmissionLimit:
    """LimitControl for one direction; native = {"value": <units>, "enabled": <flag>}."""

    def __init__(self, client: _Settings, direction: Direction) -> None:
        self.direction = direction
        self._client = client
        self._key, self._enabled_key = KEYS[direction]

    def __repr__(self) -> str:
        return "TransmissionLimit(%s)" % self.direction.value

    def read_limit(self) -> HeldLimit:
        arguments = self._client.read_settings(self._key, self._enabled_key)
        value, enabled = parse_limit_fields(arguments, self._key, self._enabled_key)
        limit = from_transmission_units(value, enabled, self._client.speed_bytes())
        return HeldLimit(limit, {"value": value, "enabled": enabled})

    def write_limit(self, limit: SpeedLimit) -> None:
        self._client.write_limit_of(self._key, self._enabled_key, limit)

    def restore_limit(self, native: Any) -> None:
        self._client.write_settings(native_limit_fields(native, self._key, self._enabled_key, self._client.speed_bytes()))
