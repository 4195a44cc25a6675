"""What /metrics shows: plex-helper's metric families, rendered in Prometheus' text format 0.0.4.

No prometheus_client at runtime: the handful of metrics plex-helper exposes are rendered by hand
from a MetricValues snapshot, which the registry (application/observers/metrics.py) takes under its lock.

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
    plex_helper_client_limit_bytes{name,direction}  gauge: the limit the client holds in that direction
    plex_helper_client_limit_own{name,direction}    gauge: 1 when that limit is the user's own
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

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
        "The limit a download client holds in one direction, in bytes per second (0 = unlimited), by name and "
        "direction (upload or download), as plex-helper last read or wrote it."
    ),
    "plex_helper_client_limit_own": (
        "1 when a client's limit in that direction is the user's own (left alone or put back), 0 when it is "
        "plex-helper's."
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


@dataclass(frozen=True)
class MetricValues:
    """Every value /metrics shows, copied at one moment (a consistent snapshot)."""

    version: str
    build: str
    state: str
    remote_streams: Optional[int]
    upload_limit_bytes: Optional[int]
    transitions: Dict[str, int]
    poll_errors: Dict[str, int]
    buckets: Tuple[float, ...]
    bucket_counts: List[int]  # per bucket, not cumulative: summed here
    duration_sum: float
    duration_count: int
    triggers: Dict[str, int]
    triggers_coalesced: int
    up: Dict[Tuple[str, str], int]  # (kind, name) -> 1/0
    side_errors: Dict[Tuple[str, str], int]  # (kind, name) -> failures
    client_limits: Dict[Tuple[str, str], int]  # (client name, direction) -> bytes/s
    client_own: Dict[Tuple[str, str], int] = field(default_factory=dict)  # 1: the user's own limit


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


def render_text(values: MetricValues) -> str:
    """All metrics in Prometheus text exposition format 0.0.4 (ends with a newline)."""
    lines: List[str] = []

    def family(name: str, kind: str, samples: Iterable[Tuple[str, Sequence[Tuple[str, str]], float]]) -> None:
        lines.append("# HELP %s %s" % (name, _escape_help(_HELP[name])))
        lines.append("# TYPE %s %s" % (name, kind))
        for sample_name, labels, value in samples:
            lines.append("%s%s %s" % (sample_name, _labels(labels), _format_value(value)))

    family("plex_helper_build_info", "gauge", [
        ("plex_helper_build_info", (("version", values.version), ("build", values.build)), 1),
    ])
    family("plex_helper_state", "gauge", [
        ("plex_helper_state", (("state", s),), 1 if s == values.state else 0) for s in STATES
    ])
    family("plex_helper_remote_streams", "gauge",
           [] if values.remote_streams is None else [("plex_helper_remote_streams", (), values.remote_streams)])
    limit = values.upload_limit_bytes
    family("plex_helper_upload_limit_bytes", "gauge",
           [] if limit is None else [("plex_helper_upload_limit_bytes", (), limit)])
    family("plex_helper_transitions_total", "counter", [
        ("plex_helper_transitions_total", (("to", to),), values.transitions[to]) for to in TRANSITION_TARGETS
    ])
    family("plex_helper_poll_errors_total", "counter", [
        ("plex_helper_poll_errors_total", (("side", side),), values.poll_errors[side]) for side in POLL_SIDES
    ])
    histogram = "plex_helper_poll_duration_seconds"
    samples = []
    cumulative = 0
    for bound, count in zip(values.buckets, values.bucket_counts):
        cumulative += count
        samples.append((histogram + "_bucket", (("le", _format_value(bound)),), cumulative))
    samples.append((histogram + "_bucket", (("le", "+Inf"),), values.duration_count))
    samples.append((histogram + "_sum", (), values.duration_sum))
    samples.append((histogram + "_count", (), values.duration_count))
    family(histogram, "histogram", samples)
    family("plex_helper_triggers_total", "counter", [
        ("plex_helper_triggers_total", (("source", source),), values.triggers[source]) for source in TRIGGER_SOURCES
    ])
    family("plex_helper_triggers_coalesced_total", "counter", [
        ("plex_helper_triggers_coalesced_total", (), values.triggers_coalesced),
    ])
    family("plex_helper_up", "gauge", [
        ("plex_helper_up", (("kind", kind), ("name", name)), value) for (kind, name), value in sorted(values.up.items())
    ])
    family("plex_helper_errors_total", "counter", [
        ("plex_helper_errors_total", (("kind", kind), ("name", name)), value)
        for (kind, name), value in sorted(values.side_errors.items())
    ])
    family("plex_helper_client_limit_bytes", "gauge", [
        ("plex_helper_client_limit_bytes", (("name", name), ("direction", direction)), value)
        for (name, direction), value in sorted(values.client_limits.items())
    ])
    family("plex_helper_client_limit_own", "gauge", [
        ("plex_helper_client_limit_own", (("name", name), ("direction", direction)), value)
        for (name, direction), value in sorted(values.client_own.items())
    ])
    return "\n".join(lines) + "\n"
