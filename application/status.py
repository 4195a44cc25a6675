"""What the status server shows and accepts: health, metrics, webhook triggers and the override."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Optional, Tuple

from application.metrics import MetricsRegistry
from application.notifications import NotificationPolicy
from application.state_files import OverrideStore
from application.runner import DaemonRunner
from application.service import TickReport
from domain.overrides import Override
from domain.ports import PortError
from domain.state import StreamState

MAX_OVERRIDE_MINUTES = 7 * 24 * 60


def _iso(wall: Optional[float]) -> Optional[str]:
    return None if wall is None else time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(wall))


class SideHealth:
    """One side's answers as /health shows them."""

    def __init__(self) -> None:
        self.last_success: Optional[float] = None  # wall clock
        self.last_error: Optional[str] = None
        self.latency_ms: Optional[float] = None
        self.failing = False

    def record(self, error: Optional[PortError], latency_sec: Optional[float], wall: float) -> None:
        if latency_sec is not None:
            self.latency_ms = round(latency_sec * 1000, 1)
        if error is None:
            self.last_success, self.failing = wall, False
        else:
            self.last_error, self.failing = str(error), True

    def as_dict(self, healthy: bool) -> Dict[str, Any]:
        return {
            "reachable": healthy,
            "last_success": _iso(self.last_success),
            "last_error": self.last_error,
            "latency_ms": self.latency_ms,
        }


class DaemonStatus:
    """A tick observer that keeps /health and /metrics current, and the status server's backend."""

    def __init__(
        self,
        runner: DaemonRunner,
        metrics: MetricsRegistry,
        override_store: OverrideStore,
        notifications: Optional[NotificationPolicy] = None,
        wall_clock: Callable[[], float] = time.time,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        self._runner = runner
        self._metrics = metrics
        self._store = override_store
        self._notifications = notifications
        self._wall_clock = wall_clock
        self._logger = logger or logging.getLogger("plex_helper")
        self._lock = threading.Lock()
        self._override_lock = threading.Lock()  # the service's override and the file change together
        self._plex = SideHealth()
        self._qbittorrent = SideHealth()
        self._last: Optional[TickReport] = None
        self._last_observation: Optional[float] = None
        self._flap_holding = False  # the flap guard keeps the throttle on, until the next change

    @property
    def _service(self):
        return self._runner.service

    def restore_override(self) -> None:
        """At start: an override saved before a restart applies again until its end."""
        override = self._store.load()
        if override is not None:
            self._service.set_override(override)
            self._logger.info("override restored: %s until %s", override.state.value, _iso(override.until))

    # -- tick observer
    def report(self, report: TickReport) -> None:
        wall = self._wall_clock()
        self._metrics.record_tick(report, self._service.enforced_limit)
        with self._lock:
            self._last = report
            if report.flap_held:
                self._flap_holding = True
            elif report.state_changed or report.remote_sessions:  # switched, or streams are back
                self._flap_holding = False
            self._plex.record(report.source_error, report.plex_latency_sec, wall)
            if report.source_error is None:
                self._last_observation = wall
            if report.limiter_checked:  # qBittorrent was asked (an error implies it was)
                self._qbittorrent.record(report.limiter_error, report.qbittorrent_latency_sec, wall)
        if report.override_expired is not None:
            with self._override_lock:  # a new override set meanwhile must not be erased from disk
                if self._service.override is None:
                    try:
                        self._store.save(None)
                    except OSError as err:  # expired anyway; at a restart it is dropped as expired
                        self._logger.debug("%s", err)
                    if self._notifications is not None:
                        self._notifications.override_changed(None)

    # -- StatusBackend
    def health(self) -> Tuple[int, Dict[str, Any]]:
        wall = self._wall_clock()
        window = 3 * max(self._runner.interval_sec, 1.0)
        with self._lock:
            report = self._last
            # Plex is read every poll; qBittorrent only when the limit changes or is reconciled,
            # so it counts as answering while its last request succeeded
            plex_ok = self._plex.last_success is not None and wall - self._plex.last_success <= window and not self._plex.failing
            qbt_ok = not self._qbittorrent.failing and (self._qbittorrent.last_success is not None or report is not None)
            body: Dict[str, Any] = {
                "state": report.after.state.value if report and report.after.state else None,
                "effective_state": report.effective_state.value if report and report.effective_state else None,
                "remote_streams": len(report.remote_sessions) if report else None,
                "upload_limit_kib": self._limit_kib(),
                "last_observation": _iso(self._last_observation),
                "override": self._override_dict(),
                "flap_guard_holding": self._flap_holding,
                "plex": self._plex.as_dict(plex_ok),
                "qbittorrent": self._qbittorrent.as_dict(qbt_ok),
            }
        return (200 if plex_ok and qbt_ok else 503), body

    def _limit_kib(self) -> Optional[int]:
        limit = self._service.enforced_limit
        return None if limit is None else limit.kib_per_sec

    def _override_dict(self) -> Optional[Dict[str, Any]]:
        override = self._service.override
        if override is None or not override.active(self._wall_clock()):
            return None
        return {"state": override.state.value, "until": _iso(override.until), "until_epoch": override.until}

    def metrics_text(self) -> str:
        return self._metrics.render()

    def trigger_observation(self, reason: str) -> None:
        self._logger.debug("observing now: %s", reason)  # a flood of webhooks must not flood the log
        self._runner.request_observation(reason)

    def set_override(self, state: str, minutes: float) -> Dict[str, Any]:
        try:
            forced = StreamState(state)
        except ValueError:
            raise ValueError("state must be streaming or idle") from None
        if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not 0 < minutes <= MAX_OVERRIDE_MINUTES:
            raise ValueError("minutes must be a number above 0 and at most %d (a week)" % MAX_OVERRIDE_MINUTES)
        override = Override(forced, self._wall_clock() + minutes * 60)
        with self._override_lock:
            # saved first: an override that would not survive a restart is refused (StateFileNotSaved,
            # an OSError the status server answers with 503), not silently half-kept
            self._store.save(override)
            self._service.set_override(override)
        self._logger.info("override: %s for %g min, until %s", forced.value, minutes, _iso(override.until))
        if self._notifications is not None:
            self._notifications.override_changed(override)
        self._runner.request_observation("override")
        return {"override": self._override_dict()}

    def clear_override(self) -> Dict[str, Any]:
        warning = None
        with self._override_lock:
            had = self._service.override is not None
            self._service.set_override(None)
            try:
                self._store.save(None)
            except OSError as err:  # cleared all the same: the user asked for it to end now
                warning = "%s; the override would apply again after a restart" % err
                self._logger.warning("%s", warning)
        if had:
            self._logger.info("override cleared: plex-helper follows Plex again")
            if self._notifications is not None:
                self._notifications.override_changed(None)
            self._runner.request_observation("override cleared")
        return {"override": None} if warning is None else {"override": None, "warning": warning}
