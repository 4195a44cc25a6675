"""The metrics registry, read back with Prometheus' own text parser."""
from __future__ import annotations

import math
import threading

import pytest

from application.observers.metrics import CONTENT_TYPE, POLL_DURATION_BUCKETS, MetricsRegistry
from domain.policies import SpeedLimit
from domain.state import StreamState
from tests.application.builders import DOWN, LAN, REMOTE, make_service

parser = pytest.importorskip(
    "prometheus_client.parser",
    reason="the metrics tests parse the output with Prometheus' parser: pip install prometheus-client",
)


def families(text):
    return {f.name: f for f in parser.text_string_to_metric_families(text)}


def samples(text):
    """{(sample name, frozenset of labels): value}"""
    out = {}
    for family in parser.text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, frozenset(s.labels.items()))] = s.value
    return out


def value(text, name, **labels):
    return samples(text)[(name, frozenset(labels.items()))]


def test_a_fresh_registry_exposes_every_family_with_its_type():
    text = MetricsRegistry("0.1.0", "abc123").render()
    found = families(text)
    # the parser names counter families without _total
    assert {name: f.type for name, f in found.items()} == {
        "plex_helper_build_info": "gauge",
        "plex_helper_state": "gauge",
        "plex_helper_remote_streams": "gauge",
        "plex_helper_upload_limit_bytes": "gauge",
        "plex_helper_transitions": "counter",
        "plex_helper_poll_errors": "counter",
        "plex_helper_poll_duration_seconds": "histogram",
        "plex_helper_triggers": "counter",
        "plex_helper_triggers_coalesced": "counter",
        "plex_helper_up": "gauge",  # one series per configured server and client, once polled
        "plex_helper_errors": "counter",
        "plex_helper_client_limit_bytes": "gauge",
        "plex_helper_client_limit_own": "gauge",
    }
    assert all(f.documentation for f in found.values())
    assert text.endswith("\n")
    assert "# TYPE plex_helper_transitions_total counter" in text
    assert CONTENT_TYPE == "text/plain; version=0.0.4; charset=utf-8"


def test_fresh_values_labels_present_from_the_start():
    text = MetricsRegistry("0.1.0", "abc123").render()
    assert samples(text) == {
        **{k: v for k, v in samples(text).items() if k[0].startswith("plex_helper_poll_duration")},
        ("plex_helper_build_info", frozenset({("version", "0.1.0"), ("build", "abc123")})): 1,
        ("plex_helper_state", frozenset({("state", "idle")})): 0,
        ("plex_helper_state", frozenset({("state", "streaming")})): 0,
        ("plex_helper_state", frozenset({("state", "unknown")})): 1,
        ("plex_helper_transitions_total", frozenset({("to", "idle")})): 0,
        ("plex_helper_transitions_total", frozenset({("to", "streaming")})): 0,
        ("plex_helper_poll_errors_total", frozenset({("side", "plex")})): 0,
        ("plex_helper_poll_errors_total", frozenset({("side", "qbittorrent")})): 0,
        ("plex_helper_triggers_total", frozenset({("source", "events")})): 0,
        ("plex_helper_triggers_total", frozenset({("source", "webhook")})): 0,
        ("plex_helper_triggers_total", frozenset({("source", "override")})): 0,
        ("plex_helper_triggers_coalesced_total", frozenset()): 0,
    }
    # unknown gauges are absent, not 0
    assert families(text)["plex_helper_remote_streams"].samples == []
    assert families(text)["plex_helper_upload_limit_bytes"].samples == []


def test_state_is_one_hot():
    m = MetricsRegistry()
    m.set_state("streaming")
    text = m.render()
    assert value(text, "plex_helper_state", state="streaming") == 1
    assert value(text, "plex_helper_state", state="idle") == 0
    assert value(text, "plex_helper_state", state="unknown") == 0
    m.set_state(StreamState.IDLE)
    assert value(m.render(), "plex_helper_state", state="idle") == 1
    m.set_state(None)
    assert value(m.render(), "plex_helper_state", state="unknown") == 1
    assert sum(s.value for s in families(m.render())["plex_helper_state"].samples) == 1


def test_gauges_and_counters():
    m = MetricsRegistry()
    m.set_remote_streams(3)
    m.set_upload_limit_bytes(512000)
    m.count_transition("streaming")
    m.count_transition(StreamState.STREAMING)
    m.count_transition("idle")
    m.count_poll_error("plex")
    m.count_poll_error("qbittorrent")
    m.count_poll_error("qbittorrent")
    text = m.render()
    assert value(text, "plex_helper_remote_streams") == 3
    assert value(text, "plex_helper_upload_limit_bytes") == 512000
    assert value(text, "plex_helper_transitions_total", to="streaming") == 2
    assert value(text, "plex_helper_transitions_total", to="idle") == 1
    assert value(text, "plex_helper_poll_errors_total", side="plex") == 1
    assert value(text, "plex_helper_poll_errors_total", side="qbittorrent") == 2
    m.set_upload_limit_bytes(0)  # unlimited
    assert value(m.render(), "plex_helper_upload_limit_bytes") == 0
    m.set_remote_streams(None)
    assert families(m.render())["plex_helper_remote_streams"].samples == []


@pytest.mark.parametrize("call, arg", [
    ("set_state", "paused"),
    ("count_transition", "unknown"),
    ("count_poll_error", "sonarr"),
    ("set_remote_streams", -1),
    ("set_upload_limit_bytes", -5),
])
def test_bad_values_are_refused(call, arg):
    with pytest.raises(ValueError):
        getattr(MetricsRegistry(), call)(arg)


def test_histogram_buckets_are_cumulative_with_inf_sum_and_count():
    m = MetricsRegistry()
    for seconds in (0.0005, 0.003, 0.003, 0.02, 0.7, 10.0, 42.0):
        m.observe_poll_duration(seconds)
    m.observe_poll_duration(-1)  # ignored
    m.observe_poll_duration(float("nan"))  # ignored
    text = m.render()
    family = families(text)["plex_helper_poll_duration_seconds"]
    buckets = [(s.labels["le"], s.value) for s in family.samples if s.name.endswith("_bucket")]
    assert [float(le) for le, _ in buckets] == list(POLL_DURATION_BUCKETS) + [math.inf]
    assert buckets[-1] == ("+Inf", 7)
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    by_le = {float(le): v for le, v in buckets}
    assert by_le[0.001] == 1
    assert by_le[0.0025] == 1
    assert by_le[0.005] == 3
    assert by_le[0.025] == 4
    assert by_le[1.0] == 5
    assert by_le[10.0] == 6  # le is inclusive
    assert value(text, "plex_helper_poll_duration_seconds_count") == 7
    assert value(text, "plex_helper_poll_duration_seconds_sum") == pytest.approx(0.0005 + 0.006 + 0.02 + 0.7 + 52.0)


def test_buckets_span_a_fast_poll_up_to_the_http_timeout():
    assert POLL_DURATION_BUCKETS[0] <= 0.001
    assert 0.05 in POLL_DURATION_BUCKETS
    assert POLL_DURATION_BUCKETS[-1] == 10.0
    assert list(POLL_DURATION_BUCKETS) == sorted(POLL_DURATION_BUCKETS)


def test_label_values_are_escaped():
    tricky = 'a"b\\c\nd'
    text = MetricsRegistry(version=tricky, build="x").render()
    assert r'version="a\"b\\c\nd"' in text
    assert value(text, "plex_helper_build_info", version=tricky, build="x") == 1


def test_record_tick_maps_a_tick_report():
    service, _, _ = make_service([[REMOTE], [REMOTE], DOWN, [LAN], [LAN], [LAN]])
    m = MetricsRegistry()
    reports = []
    for _ in range(6):
        report = service.tick()
        reports.append(report)
        m.record_tick(report, service.enforced_limit)
    text = m.render()
    # the first observation sets the state (streaming) without counting; 3 LAN polls go idle
    assert [r.after.state for r in reports] == [StreamState.STREAMING] * 5 + [StreamState.IDLE]
    assert value(text, "plex_helper_poll_errors_total", side="plex") == 1
    assert value(text, "plex_helper_poll_errors_total", side="qbittorrent") == 0
    assert value(text, "plex_helper_remote_streams") == 0
    assert value(text, "plex_helper_poll_duration_seconds_count") == 6
    assert value(text, "plex_helper_transitions_total", to="idle") == 1
    assert value(text, "plex_helper_transitions_total", to="streaming") == 0
    assert value(text, "plex_helper_state", state="idle") == 1
    assert value(text, "plex_helper_upload_limit_bytes") == service.enforced_limit.bytes_per_sec


def test_record_tick_without_enforced_limit_uses_the_applied_one():
    service, _, _ = make_service([[REMOTE]])
    m = MetricsRegistry()
    report = service.tick()
    m.record_tick(report)
    assert report.applied is not None
    assert value(m.render(), "plex_helper_upload_limit_bytes") == report.applied.bytes_per_sec
    m.record_tick(report, SpeedLimit(0))
    assert value(m.render(), "plex_helper_upload_limit_bytes") == 0


def test_concurrent_writers_and_readers_lose_nothing():
    m = MetricsRegistry("1", "b")
    per_thread = 2000
    errors = []
    start = threading.Barrier(9)

    def writer(i):
        start.wait()
        for n in range(per_thread):
            m.count_transition("idle" if i % 2 else "streaming")
            m.count_poll_error("plex")
            m.observe_poll_duration(0.004)
            m.set_state("streaming" if n % 2 else "idle")
            m.set_remote_streams(n)

    def reader():
        start.wait()
        try:
            for _ in range(200):
                parsed = samples(m.render())
                hist = [v for (name, _), v in parsed.items() if name.endswith("_bucket")]
                count = parsed[("plex_helper_poll_duration_seconds_count", frozenset())]
                # a scrape is a consistent snapshot: +Inf bucket == count, one-hot state
                assert max(hist) == count
                assert sum(v for (name, _), v in parsed.items() if name == "plex_helper_state") == 1
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)] + [threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    text = m.render()
    assert value(text, "plex_helper_transitions_total", to="idle") == 4 * per_thread
    assert value(text, "plex_helper_transitions_total", to="streaming") == 4 * per_thread
    assert value(text, "plex_helper_poll_errors_total", side="plex") == 8 * per_thread
    assert value(text, "plex_helper_poll_duration_seconds_count") == 8 * per_thread
    assert value(text, "plex_helper_poll_duration_seconds_bucket", le="0.005") == 8 * per_thread


def test_triggers_are_counted_by_source():
    m = MetricsRegistry()
    for source in ("events", "events", "webhook", "override"):
        m.count_trigger(source)
    m.count_trigger_coalesced()
    text = m.render()
    assert value(text, "plex_helper_triggers_total", source="events") == 2
    assert value(text, "plex_helper_triggers_total", source="webhook") == 1
    assert value(text, "plex_helper_triggers_total", source="override") == 1
    assert value(text, "plex_helper_triggers_coalesced_total") == 1
    assert m.snapshot()["triggers"] == {"events": 2, "webhook": 1, "override": 1}
    with pytest.raises(ValueError):
        m.count_trigger("carrier pigeon")


def test_one_series_per_server_and_client_by_name():
    from domain.policies import SpeedLimit
    from domain.ports import FailureKind, StreamSourceError, DownloadClientError
    from domain.state import MachineState, StreamState
    from domain.throttle import Decision, ServerReading
    from domain.tick_report import ClientResult, TickReport

    decision = Decision(before=MachineState(), after=MachineState(state=StreamState.STREAMING), remote=(),
                        failed_servers=("den",), effective=StreamState.STREAMING, budget=SpeedLimit(900),
                        desired=SpeedLimit(900), changed=True)
    from domain.health import HealthBook

    book = HealthBook()
    health = (book.update("server", "plex", True, None, 0.01, 1.0),
              book.update("server", "den", True, StreamSourceError(FailureKind.UNREACHABLE, "down"), None, 1.0),
              book.update("client", "seedbox", True, None, 0.01, 1.0),
              book.update("client", "vpn", True, DownloadClientError(FailureKind.UNREACHABLE, "x"), None, 1.0))
    report = TickReport(
        health=health,
        decision=decision,
        servers=(ServerReading("plex"),
                 ServerReading("den", failure="down", error=StreamSourceError(FailureKind.UNREACHABLE, "down"))),
        clients=(ClientResult("seedbox", SpeedLimit(600), applied=SpeedLimit(600), checked=True),
                 ClientResult("vpn", SpeedLimit(300), error=DownloadClientError(FailureKind.UNREACHABLE, "x"), checked=True)),
    )
    registry = MetricsRegistry(version="1", build="b")
    registry.record_tick(report)
    families = {f.name: f for f in parser.text_string_to_metric_families(registry.render())}
    up = {(s.labels["kind"], s.labels["name"]): s.value for s in families["plex_helper_up"].samples}
    assert up == {("server", "plex"): 1, ("server", "den"): 0, ("client", "seedbox"): 1, ("client", "vpn"): 0}
    errors = {s.labels["name"]: s.value for s in families["plex_helper_errors"].samples if s.name.endswith("_total")}
    assert errors == {"plex": 0, "den": 1, "seedbox": 0, "vpn": 1}
    limits = {s.labels["name"]: s.value for s in families["plex_helper_client_limit_bytes"].samples}
    assert limits == {"seedbox": 600 * 1024}
