"""What the status server shows and accepts: health, metrics, webhook triggers and the override."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

from application.observers.metrics import MetricsRegistry
from application.observers.notifications import NotificationPolicy
from application.loop.runner import DaemonRunner
from application.observers.temporary_limits import TemporaryLimits
from domain.health import SideHealth
from domain.overrides import Override
from domain.ports import OverrideMemory
from domain.schedule import describe_window
from domain.state import StreamState
from domain.tick_report import TickReport

MAX_OVERRIDE_MINUTES = 7 * 24 * 60


def _iso(wall: Optional[float]) -> Optional[str]:
    return None if wall is None else time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(wall))


def _side_dict(side: Optional[SideHealth], healthy: bool) -> Dict[str, Any]:
    """One server's or client's health record as /health shows it."""
    return {
        "reachable": healthy,
        "last_success": _iso(side.last_success if side else None),
        "last_error": side.last_error if side else None,
        "latency_ms": None if side is None or side.latency_sec is None else round(side.latency_sec * 1000, 1),
    }


class DaemonStatus:
    """A tick observer that keeps /health and /metrics current, and the status server's backend."""

    def __init__(
        self,
        runner: DaemonRunner,
        metrics: MetricsRegistry,
        override_store: OverrideMemory,
        notifications: Optional[NotificationPolicy] = None,
        wall_clock: Callable[[], float] = time.time,
        logger: Optional[logging.Logger] = None,
        kinds: Optional[Mapping[str, str]] = None,
        history: Any = None,
        current_rule: Optional[Callable[[], Any]] = None,
    ) -> None:
        self._runner = runner
        self._metrics = metrics
        self._store = override_store
        self._notifications = notifications
        self._wall_clock = wall_clock
        self._logger = logger or logging.getLogger("plex_helper")
        self._lock = threading.Lock()
        self._override_lock = threading.Lock()  # the service's override and the file change together
        # the service's health record of each media server and download client, as of the last tick
        self._servers: Dict[str, SideHealth] = {}
        self._clients: Dict[str, SideHealth] = {}
        self._wanted: Dict[str, Any] = {}  # each client's share of the budget, as of the last tick
        self._kinds = dict(kinds or {"plex": "plex", "qbittorrent": "qbittorrent"})
        self._history = history  # the history recorder, when there is one: /health says how it is
        self._current_rule = current_rule
        self._last: Optional[TickReport] = None
        self._last_observation: Optional[float] = None
        self._flap_holding = False  # the flap guard keeps the throttle on, until the next change
        # each server's push channel in words (PushWatch.describe), where the daemon has push listeners
        self.push_health: Callable[[str], Optional[str]] = lambda name: None
        self._since: Dict[Tuple[str, str, str], float] = {}  # a remote session -> when it was first seen
        self.temporary = TemporaryLimits(lambda: self._runner.service, override_store, runner.request_observation,
                                         notifications, wall_clock, self._logger)

    @property
    def _service(self):
        return self._runner.service

    def restore_override(self) -> None:
        """At start: an override saved before a restart applies again until its end."""
        override = self._store.load()
        if override is not None:
            self._service.set_override(override)
            self._logger.info("override restored: %s until %s", override.state.value, _iso(override.until))
        self.temporary.restore()

    # -- tick observer
    def report(self, report: TickReport) -> None:
        wall = self._wall_clock()
        self._metrics.record_tick(report, self._service.enforced_limit)
        line = getattr(self._service, "line", None)
        if line is not None:
            self._metrics.set_line(line.figures())
        with self._lock:
            self._last = report
            if report.flap_held:
                self._flap_holding = True
            elif report.state_changed or report.remote_sessions:  # switched, or streams are back
                self._flap_holding = False
            for side in report.health:
                (self._servers if side.kind == "server" else self._clients)[side.name] = side
            if not report.decision.observation_failed:
                self._last_observation = wall
            for client in report.clients:
                self._wanted[client.name] = client.target
            if not report.decision.observation_failed:
                remote = list(report.remote_sessions)  # sessions carry no server name: it is the reading's
                keys = {(r.name, s.user, s.player) for r in report.servers for s in r.sessions if s in remote}
                self._since = {k: self._since.get(k, wall) for k in keys}
        self.temporary.report(report)
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
            # a server is read every poll; a client only when its limit changes or is reconciled,
            # so it counts as answering while its last request succeeded
            servers = {name: h.last_success is not None and wall - h.last_success <= window and not h.failing
                       for name, h in self._servers.items()}
            clients = {name: not h.failing and (h.last_success is not None or report is not None)
                       for name, h in self._clients.items()}
            plex_ok = bool(servers) and all(servers.values())
            qbt_ok = bool(clients) and all(clients.values())
            first_server = next(iter(self._servers.values()), None)
            first_client = next(iter(self._clients.values()), None)
            body: Dict[str, Any] = {
                "state": report.after.state.value if report and report.after.state else None,
                "effective_state": report.effective_state.value if report and report.effective_state else None,
                "remote_streams": len(report.remote_sessions) if report else None,
                "upload_limit_kib": self._limit_kib(),
                "last_observation": _iso(self._last_observation),
                "override": self._override_dict(),
                "temporary_limits": self.temporary.describe(),
                "budgets": self._budgets(report),
                "streams": [{"server": k[0], "user": k[1], "player": k[2], "since": _iso(t), "since_epoch": t}
                            for k, t in sorted(self._since.items(), key=lambda i: i[1])],
                "flap_guard_holding": self._flap_holding,
                "why": self._why(report),
                "schedule": ({"window": describe_window(report.decision.window)}
                             if report is not None and report.decision.window is not None else None),
                "flap_held": self._flap_holding,
                # the first server and client under the first version's names
                "plex": _side_dict(first_server, next(iter(servers.values()), False)),
                "qbittorrent": _side_dict(first_client, next(iter(clients.values()), False)),
                "servers": [self._server_dict(report, name, h, servers[name]) for name, h in self._servers.items()],
                "clients": [self._client_dict(name, h, clients[name]) for name, h in self._clients.items()],
                "history": self._history.status() if self._history is not None else {"enabled": False, "error": None},
                # the measured line: what it carries, the other devices' share, the budget, any fallback
                "line": self._service.line.figures().as_health() if getattr(self._service, "line", None) else None,
            }
        return (200 if plex_ok and qbt_ok else 503), body

    def _why(self, report: Optional[TickReport]) -> str:
        if report is None:
            return "starting"
        if report.override is not None:
            return "override: %s until %s" % (report.override.state.value, _iso(report.override.until))
        if report.decision.window is not None:
            return "schedule: %s" % describe_window(report.decision.window)
        if self._flap_holding:
            return "the flap guard keeps the throttle on (max_transitions_per_hour)"
        if report.decision.observation_failed:
            return "%s not answering: the state is held" % ", ".join(report.decision.failed_servers)
        count = len(report.remote_sessions)
        return "%d remote stream%s" % (count, "" if count == 1 else "s") if count else "no remote streams"

    def _server_dict(self, report: Optional[TickReport], name: str, health: SideHealth, ok: bool) -> Dict[str, Any]:
        body = dict(_side_dict(health, ok), name=name, type=self._kinds.get(name, ""),
                    error=str(health.error) if health.failing else None, push=self.push_health(name))
        sessions = []
        result = next((s for s in report.servers if s.name == name), None) if report else None
        if result is not None and result.error is None:
            rule = self._current_rule() if self._current_rule else None
            verdicts = rule.classify(result.sessions) if rule is not None else ()
            for index, session in enumerate(result.sessions):
                verdict = verdicts[index] if index < len(verdicts) else None
                sessions.append({
                    "user": session.user, "player": session.player, "state": session.state,
                    "remote": verdict.counts if verdict else None,
                    "reason": verdict.reason.value if verdict else None,
                    "bandwidth_kbps": session.bandwidth_kbps,
                })
        body["sessions"] = sessions
        return body

    def _client_dict(self, name: str, health: SideHealth, ok: bool) -> Dict[str, Any]:
        slot = next((c for c in self._service.clients if c.name == name), None)
        held = slot.enforced_limit if slot is not None else None
        wanted = self._wanted.get(name)
        return dict(
            _side_dict(health, ok), name=name, type=self._kinds.get(name, ""),
            error=str(health.error) if health.failing else None,
            limit_kib=None if held is None else held.kib_per_sec,
            wanted_kib=None if wanted is None else wanted.kib_per_sec,
            unlimited=held is not None and held.unlimited,
            limits=self._limits_of(slot),
        )

    @staticmethod
    def _limits_of(slot: Any) -> Dict[str, Dict[str, Any]]:
        """Each direction as the client holds it: the limit, and whether it is the user's own (left
        alone) or plex-helper's."""
        limits: Dict[str, Dict[str, Any]] = {}
        for direction, enforcer in (slot.enforcers.items() if slot is not None else ()):
            held = enforcer.held
            limits[direction.value] = {
                "kib": None if held is None else held.kib_per_sec,
                "unlimited": held is not None and held.unlimited,
                "own": not enforcer.lowered,
                "own_kib": None if enforcer.own_limit() is None else enforcer.own_limit().kib_per_sec,
            }
        return limits

    def _budgets(self, report: Optional[TickReport]) -> Dict[str, Optional[int]]:
        """The total each direction's clients share now, KiB/s; None: no budget (each client keeps
        its own limit, or the state is not known yet)."""
        if report is None or report.decision.limits_state is None:
            return {"upload": None, "download": None}
        decision = report.decision
        if decision.limits_state is StreamState.STREAMING:
            upload = decision.budget
            download = decision.download_budget if decision.download_budget is not None else self._service.download_budget
        else:
            upload, download = decision.idle_limit, None
        return {"upload": None if upload is None or upload.unlimited else upload.kib_per_sec,
                "download": None if download is None or download.unlimited else download.kib_per_sec}

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

    def history(self, since: float, until: Optional[float], max_points: int) -> Dict[str, Any]:
        if self._history is None:
            return {"enabled": False, "error": "history is off (history_days is 0)", "states": [], "limits": [],
                    "samples": []}
        return self._history.query(since, until, max_points)

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

    def set_temporary_limit(self, direction: str, kib: Any, minutes: float, label: str = "") -> Dict[str, Any]:
        return self.temporary.set(direction, kib, minutes, label)

    def clear_temporary_limit(self, direction: Optional[str] = None) -> Dict[str, Any]:
        warning = self.temporary.clear(direction)
        body: Dict[str, Any] = {"temporary_limits": self.temporary.describe()}
        return body if warning is None else dict(body, warning=warning)

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
