"""Deluge's web JSON-RPC without the transport: units and answers, read and written as values.

Pure: the KiB/s floats Deluge stores (-1 = unlimited; never 0, which libtorrent reads as unlimited
too), the JSON-RPC envelope (`result` or an `error` object), the answers of the few methods the
client (adapters/clients/deluge/client.py) calls, each checked and turned into a value or into
DownloadClientError(MALFORMED) that never quotes the body, the `/json` address for a configured URL,
and the Connection Manager host that `daemon_host` names.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, List, Optional, Sequence

from adapters.transport.http import printable_url
from domain.policies import SpeedLimit
from domain.ports import FailureKind, DownloadClientError

JSON_PATH = "/json"
DEFAULT_DAEMON_PORT = 58846
# libtorrent keeps a rate limit as a signed 32-bit bytes/s int, and Deluge multiplies KiB/s by 1024
# (the value also travels to deluged as a 32-bit float, exact for whole numbers up to 2**24)
MAX_KIB = (2**31 - 1) // 1024
UNLIMITED = -1.0
_HOST_ID = re.compile(r"[0-9a-fA-F]{32}")


# ---------------------------------------------------------------------------------------- units


def to_deluge_kib(limit: SpeedLimit) -> float:
    """The `max_upload_speed` / `max_download_speed` value meaning `limit`: -1.0 for unlimited, else
    the whole KiB/s value (never 0, never below 1), capped at what libtorrent's field holds (about
    2 GiB/s). Whole numbers are exact in every float Deluge uses, so nothing is rounded up."""
    if limit.unlimited:
        return UNLIMITED
    return float(min(limit.kib_per_sec, MAX_KIB))


def from_deluge_kib(value: float) -> SpeedLimit:
    """The SpeedLimit a Deluge value means: what Deluge gives libtorrent is `int(value * 1024)`
    bytes/s, and 0 or less is unlimited there (so are -1, 0, and positive values below 1/1024)."""
    return SpeedLimit.from_bytes(int(max(min(value, 2.0**53), -1.0) * 1024))  # (clamped: no float overflow)


# ---------------------------------------------------------------------------------------- parsing


def malformed(reason: str) -> DownloadClientError:
    """A MALFORMED failure (an answer that is not what the method returns)."""
    return DownloadClientError(FailureKind.MALFORMED, reason)


class DelugeRpcError(Exception):
    """An `error` object in an answer. Only the code is kept: the message can echo the request."""

    def __init__(self, code: Optional[int], known_message: str) -> None:
        super().__init__("error code %s" % code)
        self.code = code
        self.known_message = known_message  # one of Deluge's own fixed texts, or ""


_SAFE_MESSAGES = ("Not authenticated", "Unknown method")


def parse_json_rpc(body: bytes, method: str) -> Any:
    """The `result` of an answer; DelugeRpcError for an `error` object; DownloadClientError(MALFORMED)
    for anything else (never quoting the body)."""
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        shape = "an HTML page" if body.lstrip()[:1] == b"<" else "%d bytes that are not JSON" % len(body)
        raise malformed("Deluge answered %s with %s; is deluge_url its web UI address?" % (method, shape))
    if not isinstance(answer, dict) or "result" not in answer:
        raise malformed("Deluge answered %s with JSON that is not a JSON-RPC answer" % method)
    error = answer.get("error")
    if error is not None:
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        if isinstance(code, bool) or not isinstance(code, int):
            code = None
        raise DelugeRpcError(code, message if message in _SAFE_MESSAGES else "")
    return answer["result"]


def parse_bool(result: Any, method: str) -> bool:
    if not isinstance(result, bool):
        raise malformed("Deluge answered %s with something that is not true or false" % method)
    return result


def _number(value: Any) -> Optional[float]:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


def parse_limit(result: Any, key: str) -> SpeedLimit:
    """`key` from a core.get_config_values answer (Deluge stores whatever it is sent: check)."""
    return from_deluge_kib(parse_kib(result, key))


def parse_kib(result: Any, key: str) -> float:
    """`key` from a core.get_config_values answer as Deluge holds it: KiB/s, -1.0 = unlimited."""
    value = result.get(key) if isinstance(result, dict) else None
    if _number(value) is None:
        raise malformed("Deluge's %s is not a number (core.get_config_values)" % key)
    return value  # as Deluge gave it (a float, or an int it was once sent): kept exact for restoring


def native_kib(native: Any, key: str) -> float:
    """The value that puts back `key` as parse_kib found it (written as it is, -1 included); anything
    Deluge could not have given raises DownloadClientError(MALFORMED)."""
    if _number(native) is None:
        raise malformed("cannot restore Deluge's %s from the saved value: it is not a number of KiB/s" % key)
    return native


def parse_rate(result: Any, key: str = "upload_rate") -> SpeedLimit:
    """`upload_rate` (bytes/s, payload and protocol overhead, what the limit applies to) from
    core.get_session_status, as a SpeedLimit value."""
    value = _number(result.get(key)) if isinstance(result, dict) else None
    if value is None or value < 0:
        raise malformed("Deluge answered core.get_session_status without a usable %s" % key)
    return SpeedLimit.from_bytes(int(value))


def parse_version(result: Any) -> str:
    if not isinstance(result, str) or not result.strip():
        raise malformed("Deluge answered daemon.get_version without a version")
    return "".join(c for c in result.split()[0] if c.isalnum() or c in ".-+")[:20] or "?"


@dataclass(frozen=True)
class DelugeHost:
    """One entry of the web UI's Connection Manager (its password is never asked for)."""

    host_id: str
    host: str
    port: int

    def __str__(self) -> str:
        return "%s:%d" % (self.host, self.port)


def parse_hosts(result: Any) -> List[DelugeHost]:
    """web.get_hosts: `[[id, host, port, username], ...]`."""
    if not isinstance(result, list):
        raise malformed("Deluge answered web.get_hosts with something that is not a list")
    hosts = []
    for entry in result:
        if (
            not isinstance(entry, list)
            or len(entry) < 3
            or not isinstance(entry[0], str)
            or not _HOST_ID.fullmatch(entry[0])
            or not isinstance(entry[1], str)
            or isinstance(entry[2], bool)
            or not isinstance(entry[2], int)
            or not 0 < entry[2] < 65536
        ):
            raise malformed("Deluge answered web.get_hosts with an entry that is not [id, host, port, user]")
        host = "".join(c for c in entry[1] if c.isprintable())[:255]
        hosts.append(DelugeHost(entry[0], host, entry[2]))
    return hosts


def parse_host_status(result: Any) -> str:
    """web.get_host_status: `[id, "Online"|"Offline"|"Connected", version]` -> the status word."""
    if not isinstance(result, list) or len(result) < 2 or not isinstance(result[1], str):
        raise malformed("Deluge answered web.get_host_status with something that is not [id, status, version]")
    return "".join(c for c in result[1] if c.isalpha())[:20]


def json_url(base_url: str) -> str:
    """`<base>/json` for a configured URL, safe to print (no `user:pass@`). A URL already ending in
    `/json` is kept; a base path (a reverse proxy's `/deluge`) is kept in front of `/json`."""
    url = printable_url(base_url)
    return url if url.endswith(JSON_PATH) else url + JSON_PATH


def choose_host(hosts: Sequence[DelugeHost], daemon_host: Optional[str]) -> Optional[DelugeHost]:
    """The host `daemon_host` names ("HOST:PORT", "HOST" or a host id); None when it names none
    (also when daemon_host is None: any host will do)."""
    if not daemon_host:
        return None
    wanted = daemon_host.strip()
    if _HOST_ID.fullmatch(wanted):
        return next((h for h in hosts if h.host_id.lower() == wanted.lower()), None)
    name, sep, port_text = wanted.rpartition(":")
    if not sep or not port_text.isdigit():
        name, port = wanted, DEFAULT_DAEMON_PORT
    else:
        port = int(port_text)
    name = name.strip("[]").lower()
    return next((h for h in hosts if h.host.lower() == name and h.port == port), None)


__all__ = [
    "DEFAULT_DAEMON_PORT", "JSON_PATH", "MAX_KIB", "UNLIMITED", "DelugeHost", "DelugeRpcError", "choose_host",
    "from_deluge_kib", "json_url", "malformed", "native_kib", "parse_bool", "parse_host_status", "parse_hosts",
    "parse_json_rpc", "parse_kib", "parse_limit", "parse_rate", "parse_version", "to_deluge_kib",
]
