"""A small, thread-safe metrics registry: the values behind /metrics, written by the run loop.

The run loop writes (one call per fact, or `record_tick` for a whole tick); the status server's
thread reads with `render()`. One lock guards everything, so a scrape always sees a consistent
snapshot. Which metrics there are, and their rendering in Prometheus' text format 0.0.4 (no
prometheus_client at runtime), is adapters/status/prometheus.py, whose names are re-exported
here.
"""
from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple

from adapters.status.prometheus import (
    CONTENT_TYPE, POLL_DURATION_BUCKETS, POLL_SIDES, STATES, TRANSITION_TARGETS, TRIGGER_SOURCES, MetricValues,
    render_text,
)

if TYPE_CHECKING:  # only for the annotation: metrics must not need the use case to import
    from domain.policies import SpeedLimit
    from domain.tick_report import TickReport


def _label_value(value: Any) -> Optional[str]:
    """Accepts plain strings and enums with a string value (StreamState)."""
    if value is None:
        return None
    value = getattr(value, "value", value)
    return str(value)


class MetricsRegistry:
    """The metrics of one plex-helper process. Every method is thread-safe and cheap."""

    def __init__(self, version: str = "", build: str = "") -> None:
        self._lock = threading.Lock()
        self._version = version
        self._build = build
        self._state = "unknown"
        self._remote_streams: Optional[int] = None
        self._upload_limit_bytes: Optional[int] = None
        self._transitions: Dict[str, int] = {to: 0 for to in TRANSITION_TARGETS}
        self._poll_errors: Dict[str, int] = {side: 0 for side in POLL_SIDES}
        self._triggers: Dict[str, int] = {source: 0 for source in TRIGGER_SOURCES}
        self._triggers_coalesced = 0
        # per configured server and client: (kind, name) -> 1/0, failures; client name -> limit
        self._up: Dict[Tuple[str, str], int] = {}
        self._errors: Dict[Tuple[str, str], int] = {}
        self._client_limits: Dict[Tuple[str, str], int] = {}  # (client, direction) -> bytes/s
        self._client_own: Dict[Tuple[str, str], int] = {}  # 1: the user's own limit, left alone
        self._buckets = POLL_DURATION_BUCKETS
        self._bucket_counts: List[int] = [0] * len(self._buckets)  # not cumulative; summed on render
        self._duration_sum = 0.0
        self._duration_count = 0
        self._line: Any = None  # the measured line's figures (application/line_tracker.py), when measured

    # --- writes -------------------------------------------------------------------------------

    def set_state(self, state: Any) -> None:
        """'idle', 'streaming', a StreamState, or None (unknown). Raises ValueError otherwise."""
        value = _label_value(state)
        value = "unknown" if value is None else value
        if value not in STATES:
            raise ValueError("unknown state %r (expected one of %s)" % (value, ", ".join(STATES)))
        with self._lock:
            self._state = value

    def set_remote_streams(self, count: Optional[int]) -> None:
        """The number of remote streams; None makes the gauge absent again."""
        if count is not None and count < 0:
            raise ValueError("a stream count cannot be negative")
        with self._lock:
            self._remote_streams = None if count is None else int(count)

    def set_upload_limit_bytes(self, bytes_per_sec: Optional[int]) -> None:
        """The limit in force, bytes/s (0 = unlimited); None = not known (the gauge is absent)."""
        if bytes_per_sec is not None and bytes_per_sec < 0:
            raise ValueError("an upload limit cannot be negative")
        with self._lock:
            self._upload_limit_bytes = None if bytes_per_sec is None else int(bytes_per_sec)

    def count_transition(self, to: Any) -> None:
        """One state change to `to` ('idle' or 'streaming', or a StreamState)."""
        value = _label_value(to)
        if value not in self._transitions:
            raise ValueError("unknown transition target %r (expected idle or streaming)" % (value,))
        with self._lock:
            self._transitions[value] += 1

    def count_poll_error(self, side: str) -> None:
        """One failed poll of 'plex' or 'qbittorrent'."""
        if side not in self._poll_errors:
            raise ValueError("unknown side %r (expected plex or qbittorrent)" % (side,))
        with self._lock:
            self._poll_errors[side] += 1

    def count_trigger(self, source: str) -> None:
        """One request for an observation from 'events', 'webhook' or 'override'."""
        if source not in self._triggers:
            raise ValueError("unknown trigger source %r (expected %s)" % (source, ", ".join(TRIGGER_SOURCES)))
        with self._lock:
            self._triggers[source] += 1

    def count_trigger_coalesced(self) -> None:
        """One request that got no observation of its own."""
        with self._lock:
            self._triggers_coalesced += 1

    def observe_poll_duration(self, seconds: float) -> None:
        """One poll's duration. Negative or NaN values (a clock glitch) are ignored."""
        seconds = float(seconds)
        if not seconds >= 0:  # also false for NaN
            return
        with self._lock:
            self._duration_sum += seconds
            self._duration_count += 1
            for i, bound in enumerate(self._buckets):
                if seconds <= bound:
                    self._bucket_counts[i] += 1
                    break

    def record_tick(self, report: "TickReport", enforced_limit: "Optional[SpeedLimit]" = None) -> None:
        """Everything one tick tells, in one call from the run loop.

        `enforced_limit` is the limit the service holds (ThrottleService.enforced_limit); without
        it the upload-limit gauge follows only the limits the tick applied.
        """
        state = report.after.state
        self.set_state(state)
        with self._lock:
            for side in report.health:  # the service's health record of each server and client
                if side.asked:
                    self._side((side.kind, side.name), not side.failing)
            for client in report.clients:
                for limit in client.limits:  # what each direction holds now: read, or written this tick
                    held = limit.held if limit.held is not None else limit.applied
                    if held is not None:
                        key = (client.name, limit.direction.value)
                        self._client_limits[key] = held.bytes_per_sec
                        self._client_own[key] = 1 if limit.own else 0
                if not client.limits and client.applied is not None:
                    self._client_limits[(client.name, "upload")] = client.applied.bytes_per_sec
        if report.state_changed and state is not None and report.before.state is not None:
            self.count_transition(state)
        if report.source_error is not None:
            self.count_poll_error("plex")
        else:
            self.set_remote_streams(len(report.remote_sessions))
        if report.limiter_error is not None:
            self.count_poll_error("qbittorrent")
        if report.read_latency_sec is not None:
            self.observe_poll_duration(report.read_latency_sec)
        limit = enforced_limit if enforced_limit is not None else report.applied
        if limit is not None:
            self.set_upload_limit_bytes(limit.bytes_per_sec)

    def set_line(self, figures: Any) -> None:
        """The measured line as of the last poll (a LineFigures: its `metric_lines()` are rendered)."""
        with self._lock:
            self._line = figures

    def _side(self, key: Tuple[str, str], ok: bool) -> None:
        """Under the lock: one server's or client's answer this tick."""
        self._up[key] = 1 if ok else 0
        self._errors.setdefault(key, 0)
        if not ok:
            self._errors[key] += 1

    # --- reads --------------------------------------------------------------------------------

    def snapshot(self) -> Dict[str, Any]:
        """The current values as plain data (for tests and a JSON status page)."""
        with self._lock:
            return {
                "state": self._state,
                "remote_streams": self._remote_streams,
                "upload_limit_bytes": self._upload_limit_bytes,
                "transitions": dict(self._transitions),
                "poll_errors": dict(self._poll_errors),
                "poll_duration_count": self._duration_count,
                "poll_duration_sum": self._duration_sum,
                "triggers": dict(self._triggers),
                "triggers_coalesced": self._triggers_coalesced,
            }

    def render(self) -> str:
        """All metrics in Prometheus text exposition format 0.0.4 (ends with a newline)."""
        with self._lock:
            values = MetricValues(
                version=self._version,
                build=self._build,
                state=self._state,
                remote_streams=self._remote_streams,
                upload_limit_bytes=self._upload_limit_bytes,
                transitions=dict(self._transitions),
                poll_errors=dict(self._poll_errors),
                buckets=self._buckets,
                bucket_counts=list(self._bucket_counts),
                duration_sum=self._duration_sum,
                duration_count=self._duration_count,
                triggers=dict(self._triggers),
                triggers_coalesced=self._triggers_coalesced,
                up=dict(self._up),
                side_errors=dict(self._errors),
                client_limits=dict(self._client_limits), client_own=dict(self._client_own),
            )
            line = self._line
        return render_text(values) + (line.metric_lines() if line is not None else "")


__all__ = [
    # this module's own
    "MetricsRegistry",
    # re-exported: adapters/status/prometheus.py
    "CONTENT_TYPE", "POLL_DURATION_BUCKETS", "POLL_SIDES", "STATES", "TRANSITION_TARGETS", "TRIGGER_SOURCES",
]
