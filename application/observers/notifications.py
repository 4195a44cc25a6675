"""Decides what is worth a notification: state changes, overrides, temporary limits, and sides
failing for a while."""
from __future__ import annotations

import time
from typing import Any, Callable, Dict, Mapping, Optional, Protocol

from application.observers.reporting import DEFAULT_LABELS, clock_time, describe_override, describe_streams
from domain.health import SideHealth
from domain.overrides import Override, TemporaryLimit
from domain.state import StreamState, TransitionReason
from domain.tick_report import TickReport


class NotificationSink(Protocol):
    """Where notifications go (the dispatcher's queue); must never block."""

    def notify(self, notification: Any) -> None: ...


# builds the sink's notification value from event=, message=, details= (the container names the class)
NotificationFactory = Callable[..., Any]


class NotificationPolicy:
    def __init__(
        self,
        sink: NotificationSink,
        notification_type: NotificationFactory,
        after_failures: int = 3,
        wall_clock: Callable[[], float] = time.time,
        labels: Optional[Mapping[str, str]] = None,
    ) -> None:
        self._sink = sink
        self._wall_clock = wall_clock
        self._make = notification_type
        self._after_failures = after_failures
        self._labels = dict(DEFAULT_LABELS, **(labels or {}))  # named as the log names them
        self._last_effective: Optional[StreamState] = None
        self._pending: Optional[StreamState] = None  # a change not announced yet

    def _send(self, event: str, message: str, **details: Any) -> None:
        self._sink.notify(self._make(event=event, message=message, details=details))

    def report(self, report: TickReport) -> None:
        for side in report.health:
            self._side(side)
        effective = report.effective_state
        # starting up idle changes nothing worth a message; starting up throttled does
        first_throttle = self._last_effective is None and effective is StreamState.STREAMING
        if effective is not None and (first_throttle or (self._last_effective not in (None, effective))):
            self._pending = effective
        if effective is not None:
            self._last_effective = effective
        # announce a change once its limit is in force, not while qBittorrent cannot be reached
        in_force = report.applied is not None or (report.limiter_checked and report.limiter_error is None)
        if self._pending is not None and self._pending is effective and in_force:
            self._state_change(report, effective)
            self._pending = None

    def _side(self, side: SideHealth) -> None:
        """Once when a side has failed `after_failures` times in a row, once when it answers again."""
        label = self._labels.get(side.name, side.name)
        if side.asked and side.failures == self._after_failures:
            self._send(
                "side_failing", "%s has failed %d polls in a row: %s" % (label, side.failures, side.error),
                side=label, kind=side.kind, error=str(side.error),
            )
        elif side.recovered_after >= self._after_failures:
            self._send("side_recovered", "%s answers again" % label, side=label, kind=side.kind)

    def _state_change(self, report: TickReport, effective: StreamState) -> None:
        limit = report.desired
        streams = describe_streams(report.remote_sessions)
        users = sorted({s.user for s in report.remote_sessions if s.user})
        details: Dict[str, Any] = {
            "state": effective.value,
            "upload_limit_kib": limit.kib_per_sec if limit else None,
            "remote_streams": len(report.remote_sessions),
            "users": users,
        }
        if report.override is not None:
            why = describe_override(report.override, self._wall_clock())
        elif report.after.last_reason is TransitionReason.SOURCE_DOWN:
            why = "Plex has not answered for too long"
        else:
            why = streams
        dry = "(dry run) " if report.dry_run else ""
        if effective is StreamState.STREAMING:
            self._send("state_change", "%sThrottled qBittorrent to %s: %s" % (dry, limit, why), **details)
        else:
            self._send("state_change", "%sRestored qBittorrent's upload limit to %s: %s" % (dry, limit, why), **details)

    def override_changed(self, override: Optional[Override]) -> None:
        if override is None:
            self._send("override", "Override ended: plex-helper follows Plex again")
        else:
            self._send(
                "override", "Override: %s until %s" % (override.state.value, clock_time(override.until, self._wall_clock())),
                state=override.state.value, until=override.until,
            )

    def temporary_limit_set(self, limit: TemporaryLimit) -> None:
        self._send(
            "temporary_limit_set", "Temporary %s limit: %d KiB/s until %s%s" % (
                limit.direction.value, limit.limit.kib_per_sec, clock_time(limit.until, self._wall_clock()),
                " (%s)" % limit.label if limit.label else ""),
            **self._temporary_details(limit),
        )

    def temporary_limit_ended(self, limit: TemporaryLimit) -> None:
        self._send(
            "temporary_limit_ended", "Temporary %s limit ended%s: the %s budget follows the streams again" % (
                limit.direction.value, " (%s)" % limit.label if limit.label else "", limit.direction.value),
            **self._temporary_details(limit),
        )

    @staticmethod
    def _temporary_details(limit: TemporaryLimit) -> Dict[str, Any]:
        return {"direction": limit.direction.value, "kib": limit.limit.kib_per_sec, "until": limit.until,
                "label": limit.label}
