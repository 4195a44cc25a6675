"""A small, thread-safe metrics registry that renders Prometheus' text format 0.0.4.

No prometheus_client at runtime: the handful of metrics plex-helper exposes are kept here and
rendered by hand. The run loop writes (one call per fact, or `record_tick` for a whole tick); the
status server's thread reads with `render()`. One lock guards everything, so a scrape always sees
a consistent snapshot.

Metrics (all always present, so dashboards and alerts never see a series appear out of nowhere,
except the two gauges that stay absent until their value is known):

    plex_helper_build_info{version, build}          gauge, always 1
    plex_helper_state{state="idle"|"streaming"|"unknown"}
                                                    gauge, one-hot: the current state has 1, the others 0
    plex_helper_remote_streams                      gauge; absent until Plex has been read once
    plex_helper_upload_limit_bytes                  gauge, bytes/s (0 = unlimited); absent until known
    plex_helper_transitions_total{to="idle"|"streaming"}       counter
    plex_helper_poll_errors_total{side="plex"|"qbittorrent"}   counter
    plex_helper_poll_duration_seconds               histogram of the time to read Plex's sessions
    plex_helper_triggers_total{source="events"|"webhook"|"override"}   counter of observation requests
    plex_helper_triggers_coalesced_total            counter of requests that joined an observation
                                                    already pending (a burst, or while rate-limited)

One series per configured server and client (named as in the config), from the first poll on:

    plex_helper_up{kind="server"|"client", name}    gauge: 1 when its last request succeeded
    plex_helper_errors_total{kind, name}            counter of its failed polls or requests
    plex_helper_client_limit_bytes{name}            gauge: the limit plex-helper holds for the client
"""
from __future__ import annotations

import math
import threading
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Tuple

if TYPE_CHECKING:  # only for the annotation: metrics must not need the use case to import
    from application.service import TickReport
    from domain.policies import UploadLimit

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

STATES = ("idle", "streaming", "unknown")
TRANSITION_TARGETS = ("idle", "streaming")
POLL_SIDES = ("plex", "qbittorrent")
TRIGGER_SOURCES = ("events", "webhook", "override")

# A LAN poll of Plex takes 1-50 ms; a slow or failing one runs up to the 10 s HTTP timeout.
POLL_DURATION_BUCKETS: Tuple[float, ...] = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)

_HELP = {
    "plex_helper_up": "1 when the server's or client's last request succeeded, else 0 (kind: server or client).",
    "plex_helper_errors_total": "Failed polls of a media server, or failed requests to a download client, by name.",
    "plex_helper_client_limit_bytes": (
        "The limit plex-helper holds in a download client, in bytes per second (0 = unlimited), by name."
    ),
    "plex_helper_build_info": "plex-helper's version and build id (the value is always 1).",
    "plex_helper_state": (
        "Current state, one-hot: the series whose state label is the current state is 1, the others 0. "
        "state is idle, streaming, or unknown (before the first observation). "
        "This is the state machine's state; a manual override does not change it."
    ),
    "plex_helper_remote_streams": "Remote streams counted at the last successful Plex poll.",
    "plex_helper_upload_limit_bytes": (
        "qBittorrent upload limit plex-helper holds in place, in bytes per second (0 = unlimited). "
        "Absent until plex-helper knows it."
    ),
    "plex_helper_transitions_total": (
        "State changes between idle and streaming, by the state changed to (the first observation, "
        "which only sets the state, is not counted)."
    ),
    "plex_helper_poll_errors_total": "Failed polls, by the side that failed (plex or qbittorrent).",
    "plex_helper_poll_duration_seconds": "Time to read Plex's sessions, per poll (failed polls included).",
    "plex_helper_triggers_total": (
        "Requests for an observation sooner than the poll interval, by source: events (Plex's event "
        "stream), webhook, or override."
    ),
    "plex_helper_triggers_coalesced_total": (
        "Requests for an observation that got none of their own: they joined one already pending "
        "(a burst within the debounce, or while the rate limit held it back) or a regular poll."
    ),
}


def _format_value(value: float) -> str:
    """Go-style float text as Prometheus expects it: NaN, +Inf, -Inf, or a plain number."""
    if isinstance(value, bool):
        value = int(value)
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _escape_label_value(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _labels(pairs: Sequence[Tuple[str, str]]) -> str:
    if not pairs:
        return ""
    return "{" + ",".join('%s="%s"' % (name, _escape_label_value(value)) for name, value in pairs) + "}"


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
        self._client_limits: Dict[str, int] = {}
        self._buckets = POLL_DURATION_BUCKETS
        self._bucket_counts: List[int] = [0] * len(self._buckets)  # not cumulative; summed on render
        self._duration_sum = 0.0
        self._duration_count = 0

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

    def record_tick(self, report: "TickReport", enforced_limit: "Optional[UploadLimit]" = None) -> None:
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
                if client.applied is not None:
                    self._client_limits[client.name] = client.applied.bytes_per_sec
        if report.state_changed and state is not None and report.before.state is not None:
            self.count_transition(state)
        if report.source_error is not None:
            self.count_poll_error("plex")
        else:
            self.set_remote_streams(len(report.remote_sessions))
        if report.limiter_error is not None:
            self.count_poll_error("qbittorrent")
        if report.plex_latency_sec is not None:
            self.observe_poll_duration(report.plex_latency_sec)
        limit = enforced_limit if enforced_limit is not None else report.applied
        if limit is not None:
            self.set_upload_limit_bytes(limit.bytes_per_sec)

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
            state = self._state
            remote = self._remote_streams
            limit = self._upload_limit_bytes
            transitions = dict(self._transitions)
            errors = dict(self._poll_errors)
            bucket_counts = list(self._bucket_counts)
            duration_sum = self._duration_sum
            duration_count = self._duration_count
            triggers = dict(self._triggers)
            coalesced = self._triggers_coalesced
            up, side_errors, client_limits = dict(self._up), dict(self._errors), dict(self._client_limits)
        lines: List[str] = []

        def family(name: str, kind: str, samples: Iterable[Tuple[str, Sequence[Tuple[str, str]], float]]) -> None:
            lines.append("# HELP %s %s" % (name, _escape_help(_HELP[name])))
            lines.append("# TYPE %s %s" % (name, kind))
            for sample_name, labels, value in samples:
                lines.append("%s%s %s" % (sample_name, _labels(labels), _format_value(value)))

        family("plex_helper_build_info", "gauge", [
            ("plex_helper_build_info", (("version", self._version), ("build", self._build)), 1),
        ])
        family("plex_helper_state", "gauge", [
            ("plex_helper_state", (("state", s),), 1 if s == state else 0) for s in STATES
        ])
        family("plex_helper_remote_streams", "gauge",
               [] if remote is None else [("plex_helper_remote_streams", (), remote)])
        family("plex_helper_upload_limit_bytes", "gauge",
               [] if limit is None else [("plex_helper_upload_limit_bytes", (), limit)])
        family("plex_helper_transitions_total", "counter", [
            ("plex_helper_transitions_total", (("to", to),), transitions[to]) for to in TRANSITION_TARGETS
        ])
        family("plex_helper_poll_errors_total", "counter", [
            ("plex_helper_poll_errors_total", (("side", side),), errors[side]) for side in POLL_SIDES
        ])
        histogram = "plex_helper_poll_duration_seconds"
        samples = []
        cumulative = 0
        for bound, count in zip(self._buckets, bucket_counts):
            cumulative += count
            samples.append((histogram + "_bucket", (("le", _format_value(bound)),), cumulative))
        samples.append((histogram + "_bucket", (("le", "+Inf"),), duration_count))
        samples.append((histogram + "_sum", (), duration_sum))
        samples.append((histogram + "_count", (), duration_count))
        family(histogram, "histogram", samples)
        family("plex_helper_triggers_total", "counter", [
            ("plex_helper_triggers_total", (("source", source),), triggers[source]) for source in TRIGGER_SOURCES
        ])
        family("plex_helper_triggers_coalesced_total", "counter", [
            ("plex_helper_triggers_coalesced_total", (), coalesced),
        ])
        family("plex_helper_up", "gauge", [
            ("plex_helper_up", (("kind", kind), ("name", name)), value) for (kind, name), value in sorted(up.items())
        ])
        family("plex_helper_errors_total", "counter", [
            ("plex_helper_errors_total", (("kind", kind), ("name", name)), value)
            for (kind, name), value in sorted(side_errors.items())
        ])
        family("plex_helper_client_limit_bytes", "gauge", [
            ("plex_helper_client_limit_bytes", (("name", name),), value) for name, value in sorted(client_limits.items())
        ])
        return "\n".join(lines) + "\n"
