"""Turns tick reports into log lines: INFO per change, DEBUG per poll, one WARNING per outage."""
from __future__ import annotations

import logging
from typing import Optional, Sequence

from application.service import TickReport
from domain.ports import FailureKind, PortError
from domain.sessions import PlaybackSession
from domain.state import TransitionReason

_FIXES = {
    ("Plex", FailureKind.REJECTED): "check plex_token",
    ("qBittorrent", FailureKind.REJECTED): "check qbittorrent_username/qbittorrent_password or qbittorrent_api_key",
}


def describe_streams(sessions: Sequence[PlaybackSession]) -> str:
    count = len(sessions)
    noun = "remote stream" if count == 1 else "remote streams"
    if not count:
        return "no remote streams"
    users = sorted({s.user for s in sessions if s.user})
    return "%d %s (%s)" % (count, noun, ", ".join(users)) if users else "%d %s" % (count, noun)


class OutageLog:
    """Logs a side's failure once when it starts (not every poll) and once when it ends."""

    def __init__(self, side: str, logger: logging.Logger) -> None:
        self.side = side
        self._logger = logger
        self._failing_since_kind: Optional[FailureKind] = None

    @property
    def failing(self) -> bool:
        return self._failing_since_kind is not None

    def failed(self, error: PortError) -> None:
        message = str(error)
        # one line per outage: the wording may change from poll to poll ("next attempt in 287 s"),
        # only a different kind of failure (down instead of rejected) is news
        if self._failing_since_kind is error.kind:
            self._logger.debug("%s still failing: %s", self.side, message)
            return
        self._failing_since_kind = error.kind
        fix = _FIXES.get((self.side, error.kind))
        if fix:
            self._logger.error("%s; %s", message, fix)
        else:
            self._logger.warning("%s", message)

    def succeeded(self) -> None:
        if self._failing_since_kind is not None:
            self._logger.info("%s answers again", self.side)
        self._failing_since_kind = None


class TickLogger:
    def __init__(self, logger: Optional[logging.Logger] = None) -> None:
        self._logger = logger or logging.getLogger("plex_helper")
        self.plex = OutageLog("Plex", self._logger)
        self.qbittorrent = OutageLog("qBittorrent", self._logger)

    def report(self, report: TickReport) -> None:
        log = self._logger
        if report.source_error is not None:
            self.plex.failed(report.source_error)
        else:
            self.plex.succeeded()
            sessions = report.observation.sessions
            state = report.after.state.value if report.after.state else "unknown"
            log.debug(
                "poll: %d session(s), %s; state %s, streak %d",
                len(sessions), describe_streams(report.remote_sessions), state, report.after.contrary_streak,
            )
        if report.state_changed and report.after.state is not None:
            old = report.before.state.value if report.before.state else "unknown"
            reason = report.after.last_reason
            why = describe_streams(report.remote_sessions)
            if reason is TransitionReason.SOURCE_DOWN:
                why = "Plex has not answered for too long, so the throttle is lifted"
            log.info("state %s -> %s: %s", old, report.after.state.value, why)
        if report.flap_held:
            log.info("max_transitions_per_hour reached: staying throttled instead of switching back to idle")
        if report.override_expired is not None:
            state = report.after.state.value if report.after.state else "unknown"
            log.info("override (%s) ended; the observed state %s applies again", report.override_expired.state.value, state)
        if report.limiter_error is not None:
            self.qbittorrent.failed(report.limiter_error)
        elif report.limiter_checked:
            self.qbittorrent.succeeded()
        if report.applied is not None:
            streams = describe_streams(report.remote_sessions)
            if report.dry_run:
                log.info("dry run: would set the upload limit to %s: %s", report.applied, streams)
            elif report.drifted_from is not None:
                log.info(
                    "qBittorrent's upload limit was changed to %s outside plex-helper; set it back to %s",
                    report.drifted_from, report.applied,
                )
            else:
                log.info("upload limit set to %s: %s", report.applied, streams)
