"""Transmission's RPC without the transport: units and answers, read and written as values.

Pure: limits in the daemon's speed unit (`units.speed-bytes`; unlimited is `-enabled: false`, and
0 is never sent: it stops a direction), the RPC envelope (`result` "success" and `arguments`), the
session-get / session-stats fields the client (adapters/clients/transmission/client.py) reads, and the RPC address
for a configured URL. Failures are DownloadClientError(MALFORMED) that never quote the body.
"""
from __future__ import annotations

import json
import re
from typing import Any, Dict, Mapping, Optional, Tuple

from adapters.transport.http import printable_url
from domain.policies import SpeedLimit
from domain.ports import FailureKind, DownloadClientError

RPC_PATH = "/transmission/rpc"
# Transmission keeps a limit as unsigned 32-bit bytes/s: more wraps (seen: 4294967296 B/s read back as 0)
MAX_LIMIT_BYTES = 2**32 - 1
MAX_SPEED_BYTES = 1 << 20  # a sane bound for units.speed-bytes (1000 or 1024 in every version)
_MAX_INT = 2**53  # JSON numbers beyond this are not integers any client really sent
_PLAIN_WORDS = re.compile(r"[a-z][a-z ,'-]{0,79}")  # an error `result` we may quote (ids never match)


# ---------------------------------------------------------------------------------------- units


def to_transmission_units(limit: SpeedLimit, speed_bytes: int) -> Optional[int]:
    """The value for `speed-limit-up` (or -down, alt-speed-*) meaning `limit`; None = unlimited
    (`-enabled: false`).

    Rounded down, so the limit is never raised above what was meant, and at least 1: Transmission
    stops a direction entirely at 0, and 0 must never be sent for a limit. The one exception to
    "never above" is that minimum: if a unit were larger than the limit (speed-bytes above 1024,
    which no version uses), 1 unit is the smallest limit Transmission can hold. Capped at what its
    32-bit bytes/s field holds (about 4 GB/s), since a larger value would wrap around.
    """
    if limit.unlimited:
        return None
    units = limit.bytes_per_sec // speed_bytes
    return min(max(1, units), MAX_LIMIT_BYTES // speed_bytes)


def from_transmission_units(value: int, enabled: bool, speed_bytes: int) -> SpeedLimit:
    """The SpeedLimit a Transmission limit of `value` units means.

    The largest KiB/s value that to_transmission_units writes as at most `value`: what we wrote
    reads back exactly (so reconciling never rewrites it), and a user's value that is no whole KiB
    reads as the KiB below it, so restoring it never raises it. An enabled 0, which blocks the
    direction, reads as 1 KiB/s, the smallest limit there is: it is a limit, not "unlimited".
    The cap (about 4 GB/s) reads as the smallest limit that is written as the cap.
    """
    if not enabled:
        return SpeedLimit(0)
    top = MAX_LIMIT_BYTES // speed_bytes
    if value >= top:  # the cap: the smallest limit that to_transmission_units writes as the cap
        return SpeedLimit(-(-top * speed_bytes // 1024))
    kib = -(-(value + 1) * speed_bytes // 1024) - 1  # ceil((value + 1) * speed_bytes / 1024) - 1
    return SpeedLimit(max(1, kib))


# ---------------------------------------------------------------------------------------- parsing


def malformed(reason: str) -> DownloadClientError:
    """A MALFORMED failure (an answer that is not what the method returns)."""
    return DownloadClientError(FailureKind.MALFORMED, reason)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _MAX_INT


def parse_rpc_answer(body: bytes, method: str) -> Dict[str, Any]:
    """The `arguments` of a successful answer, or DownloadClientError(MALFORMED) saying what was wrong
    (never quoting the body: Transmission's answers can carry its session id)."""
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        shape = "an HTML page" if body.lstrip()[:1] == b"<" else "%d bytes that are not JSON" % len(body)
        raise malformed("Transmission answered %s with %s; is transmission_url its RPC address?" % (method, shape))
    if not isinstance(answer, dict):
        raise malformed("Transmission answered %s with JSON that is not an object" % method)
    result = answer.get("result")
    if result != "success":
        if isinstance(result, str) and " " in result and _PLAIN_WORDS.fullmatch(result):
            raise malformed("Transmission refused %s: %s" % (method, result))
        raise malformed("Transmission refused %s (its answer's result is not \"success\")" % method)
    arguments = answer.get("arguments", {})
    if not isinstance(arguments, dict):
        raise malformed("Transmission answered %s without an arguments object" % method)
    return arguments


def parse_speed_bytes(arguments: Mapping[str, Any]) -> int:
    """`units.speed-bytes` of a session-get answer: bytes in one of Transmission's speed units."""
    units = arguments.get("units")
    value = units.get("speed-bytes") if isinstance(units, dict) else None
    if not _is_int(value) or not 1 <= value <= MAX_SPEED_BYTES:
        raise malformed("Transmission did not say its speed unit (session-get units.speed-bytes)")
    return value


def parse_limit(arguments: Mapping[str, Any], key: str, enabled_key: Optional[str], speed_bytes: int) -> SpeedLimit:
    """A limit from a session-get answer. `enabled_key` None: always in force (alternative limits)."""
    value, enabled = parse_limit_fields(arguments, key, enabled_key)
    return from_transmission_units(value, enabled, speed_bytes)


def parse_limit_fields(arguments: Mapping[str, Any], key: str, enabled_key: Optional[str]) -> Tuple[int, bool]:
    """(`key`, `enabled_key`) of a session-get answer exactly as Transmission gave them: the value in
    its speed unit and the flag (True when `enabled_key` is None)."""
    value = arguments.get(key)
    enabled = True if enabled_key is None else arguments.get(enabled_key)
    if not _is_int(value) or not isinstance(enabled, bool):
        raise malformed("Transmission answered session-get without a usable %s" % key)
    if value < 0:
        raise malformed("Transmission reported a negative %s" % key)
    return value, enabled


def native_limit_fields(native: Any, key: str, enabled_key: str, speed_bytes: int) -> Dict[str, Any]:
    """The session-set arguments that put back a limit as parse_limit_fields found it: `native` is
    {"value": <units>, "enabled": <flag>}. Both are written, so a disabled limit keeps its value.
    Anything Transmission could not have given raises DownloadClientError(MALFORMED)."""
    value = native.get("value") if isinstance(native, dict) else None
    enabled = native.get("enabled") if isinstance(native, dict) else None
    if (
        not isinstance(native, dict) or set(native) != {"value", "enabled"} or not _is_int(value)
        or not isinstance(enabled, bool) or not 0 <= value <= MAX_LIMIT_BYTES // speed_bytes
    ):
        raise malformed(
            "cannot restore Transmission's %s from the saved value: it is not {\"value\": 0 to %d, "
            "\"enabled\": true or false}" % (key, MAX_LIMIT_BYTES // speed_bytes)
        )
    return {key: value, enabled_key: enabled}


def parse_flag(arguments: Mapping[str, Any], key: str) -> bool:
    value = arguments.get(key)
    if not isinstance(value, bool):
        raise malformed("Transmission answered session-get without a usable %s" % key)
    return value


def parse_rate(arguments: Mapping[str, Any], key: str = "uploadSpeed") -> SpeedLimit:
    """session-stats `uploadSpeed` or `downloadSpeed` (bytes/s, payload) as a SpeedLimit value."""
    value = arguments.get(key)
    if not _is_int(value) or value < 0:
        raise malformed("Transmission answered session-stats without a usable %s" % key)
    return SpeedLimit.from_bytes(value)


def parse_version(arguments: Mapping[str, Any]) -> str:
    """'Transmission 3.00 (rpc-version 16)' from session-get's `version` and `rpc-version`."""
    version, rpc = arguments.get("version"), arguments.get("rpc-version")
    if not isinstance(version, str) or not _is_int(rpc):
        raise malformed("Transmission answered session-get without its version")
    words = version.split()
    shown = "".join(c for c in (words[0] if words else "") if c.isalnum() or c in ".-+")[:20] or "?"
    return "Transmission %s (rpc-version %d)" % (shown, rpc)


def rpc_url(base_url: str) -> str:
    """The RPC address for a configured URL, safe to print (no `user:pass@`).

    `http://nas:9091` gets `/transmission/rpc`; a URL whose path already ends in `/rpc` is kept as
    it is (a custom `rpc-url`, or the full address copied from a guide); `.../transmission` and
    `.../transmission/web` (the web UI's address) get the `/rpc` next to them.
    """
    url = printable_url(base_url)
    scheme, sep, rest = url.partition("://")
    _, slash, path = rest.partition("/")
    path = "/" + path if sep and slash else ""
    if path.endswith("/rpc"):
        return url
    if path.endswith("/transmission/web"):
        return url[: -len("/web")] + "/rpc"
    if path.endswith("/transmission"):
        return url + "/rpc"
    return url + RPC_PATH


__all__ = [
    "MAX_LIMIT_BYTES", "MAX_SPEED_BYTES", "RPC_PATH", "from_transmission_units", "malformed", "native_limit_fields",
    "parse_flag", "parse_limit", "parse_limit_fields", "parse_rate", "parse_rpc_answer", "parse_speed_bytes", "parse_version", "rpc_url",
    "to_transmission_units",
]
