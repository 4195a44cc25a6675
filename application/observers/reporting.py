"""Turns tick reports into log lines: INFO per change, DEBUG per poll, one WARNING per outage."""
from __future__ import annotations

import logging
import time
from typing import Callable, Dict, Iterable, Mapping, Optional, Sequence, Tuple

from domain.health import SideHealth
from domain.overrides import Override
from domain.ports import FailureKind
from domain.schedule import describe_window
from domain.sessions import PlaybackSession, RemoteStreamRule, SessionReason, SessionVerdict
from domain.state import TransitionReason
from domain.limit_plan import Direction
from domain.tick_report import LimitResult, TickReport

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


def describe_override(override: Override, now: float) -> str:
    """'override streaming until 21:30'."""
    return "override %s until %s" % (override.state.value, clock_time(override.until, now))


def clock_time(wall: float, now: float) -> str:
    """'21:30' (local time); with the date when that is more than a day from now (an override may last a week)."""
    fmt = "%H:%M" if abs(wall - now) < 86400 else "%Y-%m-%d %H:%M"
    return time.strftime(fmt, time.localtime(wall))


def describe_verdict(verdict: SessionVerdict) -> str:
    """'friend on TV, playing: counted (remote: location wan)': what --verbose says of one session."""
    return "%s: %s (%s)" % (_who(verdict.session), "counted" if verdict.counts else "not counted", _reason_words(verdict))


def _who(session: PlaybackSession) -> str:
    return "%s on %s, %s" % (session.user or "unknown user", session.player or "unknown player", session.state)


def _reason_words(verdict: SessionVerdict) -> str:
    session, reason = verdict.session, verdict.reason
    if reason is SessionReason.STATE_NOT_COUNTED:
        return "%s is not in count_states" % (session.state or '""')
    if reason is SessionReason.IGNORED_USER:
        return "%s is in ignore_users" % (session.user or '""')
    if reason is SessionReason.IN_LAN_NETWORKS:
        return "%s is in lan_networks" % session.address
    if reason is SessionReason.UNKNOWN_LOCATION:
        return "Plex did not say where it plays; counted to be safe"
    if not reason.counts:
        return "local: %s" % reason.value
    # every sign of remote Plex gave, not only the first the rule checks
    signs = []
    if session.location not in (None, "lan"):
        signs.append("location %s" % (session.location or '""'))
    if session.local is False:
        signs.append("Player.local false")
    if session.relayed:
        signs.append("relayed")
    return "remote: %s" % ", ".join(signs)


# how the flat config's server and client are named in the log, as the first version named them
DEFAULT_LABELS = {"plex": "Plex", "qbittorrent": "qBittorrent"}
KIND_LABELS = {"plex": "Plex", "jellyfin": "Jellyfin", "emby": "Emby", "qbittorrent": "qBittorrent",
               "transmission": "Transmission", "deluge": "Deluge", "sabnzbd": "SABnzbd", "nzbget": "NZBGet"}


def side_labels(entries: Iterable[Tuple[str, str]]) -> Dict[str, str]:
    """(name, type) -> what the log calls it: 'Plex' for the shorthand's, "Jellyfin 'den'" else."""
    return {name: KIND_LABELS.get(kind, kind) if name == kind else "%s '%s'" % (KIND_LABELS.get(kind, kind), name)
            for name, kind in entries}


class TickLogger:
    """Logs what a tick saw and did.

    `current_rule` gives the rule in force (read at each poll, since a reload replaces it); with it
    the DEBUG line says why each session counted or not, without it only whether it did.
    """

    def __init__(
        self,
        logger: Optional[logging.Logger] = None,
        current_rule: Optional[Callable[[], RemoteStreamRule]] = None,
        wall_clock: Callable[[], float] = time.time,
        labels: Optional[Mapping[str, str]] = None,
    ) -> None:
        self._logger = logger or logging.getLogger("plex_helper")
        self._current_rule = current_rule
        self._wall_clock = wall_clock
        # servers and clients named as the user knows them
        self._labels = dict(DEFAULT_LABELS, **(labels or {}))

    def _outage(self, side: SideHealth) -> None:
        """One line when a side starts failing (not every poll; a different kind of failure, down
        instead of rejected, is news), one when it answers again. The wording may change from poll to
        poll ("next attempt in 287 s"): that alone is not news."""
        label = self._labels.get(side.name, side.name)
        if side.asked and side.failing:
            message = str(side.error)
            if not side.news:
                self._logger.debug("%s still failing: %s", label, message)
                return
            fix = _FIXES.get((label, side.failure_kind))
            if fix is None and side.failure_kind is FailureKind.REJECTED:
                fix = "check the credentials of %s in the config" % label
            if fix:
                self._logger.error("%s; %s", message, fix)
            else:
                self._logger.warning("%s", message)
        elif side.recovered_after:
            self._logger.info("%s answers again", label)

    def report(self, report: TickReport) -> None:
        log = self._logger
        for side in report.health:
            if side.kind == "server":
                self._outage(side)
        if not report.decision.observation_failed and log.isEnabledFor(logging.DEBUG):  # nothing of it at INFO
            log.debug("%s", self._poll_line(report))
        if report.state_changed and report.after.state is not None:
            old = report.before.state.value if report.before.state else "unknown"
            reason = report.after.last_reason
            why = describe_streams(report.remote_sessions)
            if reason is TransitionReason.SOURCE_DOWN:
                down = " and ".join(self._labels.get(n, n) for n in report.decision.failed_servers) or "Plex"
                why = "%s has not answered for too long, so the throttle is lifted" % down
            log.info("state %s -> %s: %s", old, report.after.state.value, why)
        if report.decision.window_changed:
            window = report.decision.window
            log.info("schedule: %s", "window %s in force" % describe_window(window) if window else "no window in force")
        if report.flap_held:
            log.info("max_transitions_per_hour reached: staying throttled instead of switching back to idle")
        if report.override_expired is not None:
            state = report.after.state.value if report.after.state else "unknown"
            log.info("override (%s) ended; the observed state %s applies again", report.override_expired.state.value, state)
        for side in report.health:
            if side.kind == "client":
                self._outage(side)
        named = len(report.clients) > 1
        for client in report.clients:
            label = self._labels.get(client.name, client.name)
            for limit in client.limits or (LimitResult(Direction.UPLOAD, client.target, False, None, client.applied,
                                                       client.drifted_from),):
                if limit.applied is not None:
                    self._limit_line(report, label, named, limit)

    def _limit_line(self, report: TickReport, label: str, named: bool, limit: LimitResult) -> None:
        """One INFO line per limit applied, naming the direction ("upload limit", "download limit")."""
        what = "%s limit" % limit.direction.value
        whose = "%s of %s" % (what, label) if named else what
        why = self._why_this_limit(report)
        if report.dry_run:
            self._logger.info("dry run: would set the %s to %s: %s", whose, limit.applied, why)
        elif limit.drifted_from is not None:
            self._logger.info("%s's %s was changed to %s outside plex-helper; set it back to %s",
                     label, what, limit.drifted_from, limit.applied)
        else:
            self._logger.info("%s set to %s: %s", whose, limit.applied, why)

    def _why_this_limit(self, report: TickReport) -> str:
        if report.override is not None:  # the override decided the state, whatever the streams
            return describe_override(report.override, self._wall_clock())
        return describe_streams(report.remote_sessions)

    def _poll_line(self, report: TickReport) -> str:
        """'poll: 2 session(s), 1 remote stream (friend); state idle, streak 1 | friend on TV, ... | ...'"""
        sessions = report.sessions
        state = report.after.state.value if report.after.state else "unknown"
        parts = ["poll: %d session(s), %s; state %s, streak %d" % (
            len(sessions), describe_streams(report.remote_sessions), state, report.after.contrary_streak,
        )]
        if self._current_rule is not None:
            parts += [describe_verdict(v) for v in self._current_rule().classify(sessions)]
        else:
            counted = {id(s) for s in report.remote_sessions}
            parts += ["%s: %s" % (_who(s), "counted" if id(s) in counted else "not counted") for s in sessions]
        return " | ".join(parts)
