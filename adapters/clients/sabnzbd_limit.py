"""SABnzbd's download limit in its own terms: its answers read as values, and the LimitControl.

What SABnzbd 5.0 does, read in its source (sabnzbd/api.py, downloader.py, misc.py, config.py):
- `mode=queue` answers `speedlimit` (str of Downloader.bandwidth_perc) and `speedlimit_abs` (str of
  bandwidth_limit, bytes/s); no limit is "0" (4.x and older: "", 3.x: "512000.0" for a limit).
- `mode=get_config&section=misc&keyword=bandwidth_max` answers {"config": {"misc": {"bandwidth_max":
  "<text>"}}}: the "Maximum line speed" as the user typed it ("10M", "" when unset), which SABnzbd
  reads with misc.from_units (a number, then K/M/G/T/P in powers of 1024).
- `mode=config&name=speedlimit&value=V` (Downloader.limit_speed): a V holding `%`, or whose size is
  above 0 and below 101 bytes/s, is a percentage: bandwidth_limit = int(max * perc / 100), and
  nothing happens (a warning) without a line speed. Any other V is absolute bytes/s (a bare number
  or K/M/G suffixes); the percentage is then recomputed as int(limit / max * 100). "0" clears it.
SABnzbd's own web UI offers only percentages, so a limit that is exactly what its percentage of the
line speed gives was set as that percentage and is restored as one ({"percent": 30} -> "30%");
anything else is restored as the same bytes ({"bytes": N} -> "N", read as absolute since N > 100),
and {"none": true} as "0".
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, Optional, Protocol

from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, HeldLimit, DownloadClientError

NO_LIMIT = "0"
MAX_BYTES = 2**53  # SABnzbd keeps the limit through a float: exact up to here
_NUMBER = re.compile(r"[0-9]{1,19}(?:\.[0-9]{0,12})?")
_TAB_UNITS = ("", "K", "M", "G", "T", "P")  # misc.TAB_UNITS
_RE_UNITS = re.compile(r"(\d+\.*\d*)\s*([KMGTP]?)", re.I)  # misc.RE_UNITS


def _malformed(message: str) -> DownloadClientError:
    return DownloadClientError(FailureKind.MALFORMED, message)


# ------------------------------------------------------------------------------------ values


def to_sabnzbd_value(limit: SpeedLimit) -> str:
    """The `value` for `mode=config&name=speedlimit`: "0" for unlimited, else the KiB/s with a `K`.

    Always with the suffix: SABnzbd reads a bare 1..100 as a percentage of its line speed. K is
    1024 bytes there, the domain's unit, so the value is exact (never raised, never 0).
    """
    kib = limit.kib_per_sec
    if isinstance(kib, bool) or not isinstance(kib, int) or kib < 0:
        raise _malformed("refusing to set SABnzbd's speed limit to %r" % (kib,))
    return NO_LIMIT if kib == 0 else "%dK" % kib


def line_speed_bytes(text: str) -> int:
    """SABnzbd's reading of its "Maximum line speed" (OptionStr.get_int over misc.from_units): the
    first number in the text, times 1024 per K/M/G/T/P step; 0 when there is none, and -1 for "-1"
    (0 or less: no line speed to take a percentage of). Capped at MAX_BYTES."""
    if text.strip() == "-1":
        return -1
    match = _RE_UNITS.search(text.strip().upper()[:100])
    if not match:
        return 0
    number = float(match.group(1))
    if match.group(2):
        number *= 1024.0 ** _TAB_UNITS.index(match.group(2).upper())
    return int(number) if math.isfinite(number) and number < MAX_BYTES else MAX_BYTES


@dataclass(frozen=True)
class QueueSpeed:
    """The queue's two numbers: `percent` (of the line speed; 0 when unreadable) and `bytes_per_sec`."""

    percent: int
    bytes_per_sec: int


def queue_speed(payload: Any, where: str = "SABnzbd") -> QueueSpeed:
    """`speedlimit` and `speedlimit_abs` from a decoded `mode=queue` answer. An unreadable
    `speedlimit_abs` raises DownloadClientError(MALFORMED); an unreadable percentage is 0, which only
    means the limit is not taken for a percentage."""
    queue = payload.get("queue") if isinstance(payload, dict) else None
    value = queue.get("speedlimit_abs", None) if isinstance(queue, dict) else None
    bytes_per_sec = _bytes_per_sec(value)
    if bytes_per_sec is None:
        raise _malformed("%s answered the queue without a readable speed limit (queue.speedlimit_abs)" % where)
    percent = _bytes_per_sec(queue.get("speedlimit")) if isinstance(queue, dict) else None
    return QueueSpeed(percent if percent is not None and percent <= 100 else 0, bytes_per_sec)


def limit_from_queue(payload: Any, where: str = "SABnzbd") -> SpeedLimit:
    """The limit in force, from a decoded `mode=queue` answer (DownloadClientError(MALFORMED) else)."""
    return SpeedLimit.from_bytes(queue_speed(payload, where).bytes_per_sec)


def line_speed_from_config(payload: Any, where: str = "SABnzbd") -> int:
    """bandwidth_max in bytes/s (0 or less = not set) from a decoded get_config answer."""
    config = payload.get("config") if isinstance(payload, dict) else None
    misc = config.get("misc") if isinstance(config, dict) else None
    text = misc.get("bandwidth_max") if isinstance(misc, dict) else None
    if not isinstance(text, str):
        raise _malformed("%s answered get_config without its maximum line speed (misc.bandwidth_max)" % where)
    return line_speed_bytes(text)


def _bytes_per_sec(value: Any) -> Optional[int]:
    """A count SABnzbd sends as a string ("" = 0), or None when it is not one."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return 0
        return int(text.partition(".")[0]) if _NUMBER.fullmatch(text) else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value < 2**63 else None
    if isinstance(value, float) and math.isfinite(value) and 0 <= value < 2.0**63:
        return int(value)
    return None


def held_of(speed: QueueSpeed, line_speed: int) -> HeldLimit:
    """The limit as SABnzbd holds it; see the module's docstring for when it is a percentage."""
    limit = SpeedLimit.from_bytes(speed.bytes_per_sec)
    if speed.bytes_per_sec <= 0:
        return HeldLimit(limit, {"none": True})
    if line_speed > 0 and 1 <= speed.percent <= 100 and int(line_speed * speed.percent / 100) == speed.bytes_per_sec:
        return HeldLimit(limit, {"percent": speed.percent})
    return HeldLimit(limit, {"bytes": speed.bytes_per_sec})


def value_for_native(native: Any) -> str:
    """The speedlimit `value` that puts back what held_of found; DownloadClientError(MALFORMED) for a
    native SABnzbd could not have given (bytes from 1 to 100 can only be a percentage there)."""
    if native == {"none": True}:
        return NO_LIMIT
    if isinstance(native, dict) and len(native) == 1:
        (kind, number), = native.items()
        if isinstance(number, int) and not isinstance(number, bool):
            if kind == "percent" and 1 <= number <= 100:
                return "%d%%" % number
            if kind == "bytes" and 100 < number <= MAX_BYTES:
                return "%d" % number  # a bare number above 100 is absolute bytes/s
    raise _malformed(
        "cannot restore SABnzbd's speed limit from the saved value: it is not {\"percent\": 1 to 100}, "
        "{\"bytes\": 101 or more} or {\"none\": true}"
    )


# ------------------------------------------------------------------------------------ the control


class _SpeedApi(Protocol):
    """What the control needs of SabnzbdClient (adapters/clients/sabnzbd.py)."""

    url: str

    def queue_speed(self) -> QueueSpeed: ...
    def line_speed(self) -> int: ...
    def set_speed_value(self, value: str) -> None: ...


class SabnzbdLimit:
    """LimitControl of SABnzbd's download limit; native {"percent": N}, {"bytes": N} or {"none": true}."""

    direction = Direction.DOWNLOAD

    def __init__(self, client: _SpeedApi) -> None:
        self._client = client

    def __repr__(self) -> str:
        return "SabnzbdLimit(download)"

    def read_limit(self) -> HeldLimit:
        speed = self._client.queue_speed()
        if speed.bytes_per_sec <= 0:  # no limit: the line speed does not matter
            return held_of(speed, 0)
        return held_of(speed, self._client.line_speed())

    def write_limit(self, limit: SpeedLimit) -> None:
        self._client.set_speed_value(to_sabnzbd_value(limit))

    def restore_limit(self, native: Any) -> None:
        value = value_for_native(native)
        if value.endswith("%") and self._client.line_speed() <= 0:
            # SABnzbd would only warn and keep plex-helper's throttle in force
            raise DownloadClientError(
                FailureKind.REJECTED,
                "cannot restore SABnzbd's %s speed limit at %s: its Maximum line speed (Config > General) is "
                "no longer set" % (value, self._client.url),
            )
        self._client.set_speed_value(value)
