"""Temporary limits as the user sets them (status server, CLI, page, MQTT): checked, saved to survive
a restart, handed to the service, announced, and dropped from the file when they end on time."""
from __future__ import annotations

import logging
import math
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Union

from domain.limit_plan import Direction
from domain.overrides import MAX_LABEL_CHARS, MAX_TEMPORARY_KIB, TemporaryLimit
from domain.policies import SpeedLimit
from domain.ports import OverrideMemory
from domain.tick_report import TickReport
from domain.units import describe_kib, parse_rate

MAX_TEMPORARY_MINUTES = 7 * 24 * 60  # as an override: at most a week


def _iso(wall: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(wall))


def temporary_kib(value: Union[int, float, str]) -> int:
    """KiB/s from a number (KiB/s) or a rate with its unit ("1 MB/s", "8 Mbit/s"); ValueError names
    what is wrong. Rounded down (never above what was meant), at least 1."""
    if isinstance(value, str):
        try:
            rate = parse_rate(value)
        except ValueError as err:
            raise ValueError("kib %s" % err) from None
        if rate.unlimited:
            raise ValueError("kib must be a limit above 0, not unlimited (to end a limit, clear it)")
        kib = rate.whole_kib()
    elif isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError('kib must be a number of KiB/s or a rate such as "1 MB/s"')
    elif value != int(value) or value < 1:
        raise ValueError("kib must be a whole number of KiB/s, at least 1")
    else:
        kib = int(value)
    if kib > MAX_TEMPORARY_KIB:
        raise ValueError("kib must be at most %d KiB/s" % MAX_TEMPORARY_KIB)
    return kib


def describe_temporary(limit: TemporaryLimit) -> str:
    """'upload at 1000 KiB/s (8.2 Mbit/s) (video call)'."""
    label = " (%s)" % limit.label if limit.label else ""
    return "%s at %s%s" % (limit.direction.value, describe_kib(limit.limit.kib_per_sec), label)


class TemporaryLimits:
    """The status backend's half for temporary limits; every method is safe from any thread."""

    def __init__(self, service_of: Callable[[], Any], store: OverrideMemory, request_observation: Callable[[str], None],
                 notifications: Any = None, wall_clock: Callable[[], float] = time.time,
                 logger: Optional[logging.Logger] = None) -> None:
        self._service_of = service_of  # the runner's service (a reload may replace it)
        self._store = store
        self._observe = request_observation
        self._notifications = notifications
        self._wall_clock = wall_clock
        self._logger = logger or logging.getLogger("plex_helper")
        self._lock = threading.Lock()  # the service's limits and the file change together

    def restore(self) -> None:
        """At start: the limits saved before a restart apply again until their end."""
        for limit in self._store.load_temporary().values():
            self._service_of().set_temporary_limit(limit)
            self._logger.info("temporary limit restored: %s until %s", describe_temporary(limit), _iso(limit.until))

    def set(self, direction: str, kib: Union[int, float, str], minutes: float, label: str = "") -> Dict[str, Any]:
        """Hold `direction`'s budget at `kib` for `minutes`; ValueError names the bad field, OSError
        when it could not be saved (then it is not set)."""
        try:
            which = Direction(direction)
        except ValueError:
            raise ValueError("direction must be upload or download") from None
        amount = temporary_kib(kib)
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 < minutes <= MAX_TEMPORARY_MINUTES:
            raise ValueError("minutes must be a number above 0 and at most %d (a week)" % MAX_TEMPORARY_MINUTES)
        if not isinstance(label, str):
            raise ValueError("label must be text")
        label = label.strip()
        if len(label) > MAX_LABEL_CHARS or not label.isprintable():
            raise ValueError("label must be one line of at most %d printable characters" % MAX_LABEL_CHARS)
        limit = TemporaryLimit(which, SpeedLimit(amount), self._wall_clock() + minutes * 60, label)
        with self._lock:
            service = self._service_of()
            self._store.save_temporary({**service.temporary_limits, which: limit})  # first: refused if not kept
            service.set_temporary_limit(limit)
        self._logger.info("temporary limit: %s for %g min, until %s", describe_temporary(limit), minutes, _iso(limit.until))
        if self._notifications is not None:
            self._notifications.temporary_limit_set(limit)
        self._observe("temporary limit")
        return {"temporary_limits": self.describe()}

    def clear(self, direction: Optional[str] = None) -> Optional[str]:
        """End one direction's limit (None: both) now. Returns a warning when the file could not be
        updated (the limit is ended all the same: the user asked for it)."""
        which = None if direction is None else Direction(direction)
        with self._lock:
            service = self._service_of()
            ending = [t for d, t in service.temporary_limits.items() if which is None or d is which]
            service.clear_temporary_limit(which)
            try:
                self._store.save_temporary(service.temporary_limits)
            except OSError as err:
                warning = "%s; the temporary limit would apply again after a restart" % err
                self._logger.warning("%s", warning)
                return warning
            finally:
                for limit in ending:
                    self._logger.info("temporary limit cleared: %s", describe_temporary(limit))
        if ending:
            self._observe("temporary limit cleared")
        return None

    def report(self, report: TickReport) -> None:
        """A limit that ended on time: one INFO line, a notification, and out of the file."""
        ended = report.decision.temporary_ended
        if not ended:
            return
        with self._lock:
            try:
                self._store.save_temporary(self._service_of().temporary_limits)
            except OSError as err:  # ended anyway; at a restart it is dropped as ended
                self._logger.debug("%s", err)
        for limit in ended:
            self._logger.info("temporary limit ended: %s; the %s budget follows the streams again",
                              describe_temporary(limit), limit.direction.value)
            if self._notifications is not None:
                self._notifications.temporary_limit_ended(limit)

    def describe(self) -> List[Dict[str, Any]]:
        """The active limits as /health shows them (the end in local time and in epoch seconds)."""
        now = self._wall_clock()
        limits = self._service_of().temporary_limits
        return [
            {"direction": d.value, "kib": t.limit.kib_per_sec, "label": t.label, "until": _iso(t.until),
             "until_epoch": t.until}
            for d in Direction for t in [limits.get(d)] if t is not None and t.active(now)
        ]
