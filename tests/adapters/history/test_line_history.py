"""The measured line in the history: kept per sample and direction, averaged over the sample's
minute, read back by /api/history's query, downsampled as means, and an older file (schema 1)
opening with its rows intact."""
from __future__ import annotations

import json
import sqlite3
from types import SimpleNamespace

from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st

from adapters.history.events import LineAverage
from adapters.history.query import downsample, line_means
from adapters.history.schema import SCHEMA_VERSION
from adapters.history.store import HistoryObserver, HistoryRecorder, LineReading, Sample
from application.line_tracker import LineTracker
from application.wiring.parts import make_history_observer
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.sessions import PlaybackSession
from domain.state import MachineState, StreamState, TransitionReason
from domain.throttle import Decision, ServerReading
from domain.tick_report import ClientResult, TickReport
from tests.support.clock import ManualClock
from tests.support.scripted_line_meter import ScriptedLineMeter

NOW = 1_780_000_000.0
UP, DOWN = Direction.UPLOAD, Direction.DOWNLOAD
STREAM = PlaybackSession(state="playing", local=False, location="wan", user="friend", player="TV",
                         bandwidth_kbps=1638)  # 200 KiB/s
UPLOAD = LineReading(measured_kib=900.0, clients_kib=500.0, streams_kib=200.0, other_kib=200.0, capacity_kib=1000)
DOWNLOAD = LineReading(measured_kib=None, clients_kib=0.0, streams_kib=0.0, other_kib=None, capacity_kib=5000)

# the file as version 1 left it (the first released schema), with a row in each table
VERSION_1 = """
CREATE TABLE states (at REAL NOT NULL, from_state TEXT, to_state TEXT, reason TEXT NOT NULL);
CREATE INDEX states_at ON states (at);
CREATE TABLE limits (at REAL NOT NULL, client TEXT NOT NULL, limit_kib INTEGER NOT NULL);
CREATE INDEX limits_at ON limits (at);
CREATE TABLE samples (at REAL NOT NULL, remote_streams INTEGER, limits TEXT NOT NULL,
                      servers TEXT NOT NULL, clients TEXT NOT NULL);
CREATE INDEX samples_at ON samples (at);
INSERT INTO states VALUES (1779999000.0, 'idle', 'streaming', 'threshold reached');
INSERT INTO limits VALUES (1779999000.0, 'qbt', 500);
INSERT INTO samples VALUES (1779999060.0, 1, '{"qbt":500}', '{"plex":true}', '{"qbt":true}');
PRAGMA user_version=1;
"""
OLD_SAMPLE = {"at": 1779999060.0, "remote_streams": 1, "limits": {"qbt": 500}, "servers": {"plex": True},
              "clients": {"qbt": True}}


def version_1_file(path) -> None:
    conn = sqlite3.connect(str(path))
    conn.executescript(VERSION_1)
    conn.close()


def test_the_line_goes_in_and_comes_back_per_direction(tmp_path):
    r = HistoryRecorder(str(tmp_path / "h.sqlite3"), wall_clock=ManualClock(NOW)).start()
    try:
        r.record(Sample(NOW - 120, 0, {"qbt": 0}, {"plex": True}, {"qbt": True}))  # idle: no line
        r.record(Sample(NOW - 60, 1, {"qbt": 500}, {"plex": True}, {"qbt": True}, {"upload": UPLOAD, "download": DOWNLOAD}))
        assert r.flush()
        got = r.query(NOW - 3600)
    finally:
        r.stop()
    assert "line" not in got["samples"][0]
    assert got["samples"][1]["line"] == {
        "upload": {"measured_kib": 900.0, "clients_kib": 500.0, "streams_kib": 200.0, "other_kib": 200.0, "capacity_kib": 1000},
        "download": {"measured_kib": None, "clients_kib": 0.0, "streams_kib": 0.0, "other_kib": None, "capacity_kib": 5000},
    }
    assert r.status()["rows"] == 4  # two samples, two line rows: written in the same batch
    json.dumps(got)


def test_a_version_1_file_opens_with_its_rows_and_gains_the_line(tmp_path):
    path = tmp_path / "history.sqlite3"
    version_1_file(path)
    # read before the writer updated it: no line table yet, and no error
    before = HistoryRecorder(str(path), wall_clock=ManualClock(NOW)).query(NOW - 3600)
    assert before["error"] is None and before["samples"] == [OLD_SAMPLE]

    r = HistoryRecorder(str(path), wall_clock=ManualClock(NOW)).start()
    try:
        r.record(Sample(NOW - 60, 1, {"qbt": 500}, {"plex": True}, {"qbt": True}, {"upload": UPLOAD}))
        assert r.flush()
        assert r.status()["enabled"] and r.status()["error"] is None
        got = r.query(NOW - 3600)
    finally:
        r.stop()
    assert got["states"] == [{"at": 1779999000.0, "from": "idle", "to": "streaming", "reason": "threshold reached"}]
    assert got["limits"] == [{"at": 1779999000.0, "client": "qbt", "limit_kib": 500}]
    assert got["samples"][0] == OLD_SAMPLE
    assert got["samples"][1]["line"]["upload"]["measured_kib"] == 900.0
    conn = sqlite3.connect(str(path))
    try:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 2
    finally:
        conn.close()
    # and opening it again (already version 2) changes nothing
    again = HistoryRecorder(str(path), wall_clock=ManualClock(NOW)).start()
    try:
        assert again.flush() and again.status()["rows"] == 5
    finally:
        again.stop()


def streaming_tick() -> TickReport:
    after = MachineState(state=StreamState.STREAMING, last_reason=TransitionReason.THRESHOLD)
    decision = Decision(before=after, after=after, remote=(STREAM,), failed_servers=(), effective=StreamState.STREAMING,
                        budget=SpeedLimit(500), desired=SpeedLimit(500), changed=False)
    return TickReport(decision, (ServerReading("plex", (STREAM,)),), (ClientResult("qbt", target=SpeedLimit(500)),))


class Rates:
    def __init__(self, up: float) -> None:
        self.up = up

    def current_upload_rate(self) -> SpeedLimit:
        return SpeedLimit(int(self.up))


def test_a_sample_keeps_the_trackers_line_averaged_over_its_minute(tmp_path):
    """The real tracker on a scripted meter: six polls of 10 s, one sample, the minute's means."""
    clock = ManualClock(1000.0)
    meter = ScriptedLineMeter(clock)
    tracker = LineTracker(meter, {UP: 1000, DOWN: 0}, 0.1, "scripted", clock)
    recorder = HistoryRecorder(str(tmp_path / "never-opened.sqlite3"))
    observer = make_history_observer(recorder, tracker)
    slot = SimpleNamespace(name="qbt", rates=Rates(up=300))
    wall = NOW
    samples = []
    for poll, rate in enumerate((600, 600, 600, 900, 900, 900, 900)):
        meter.rates(upload_kib=rate)
        clock.advance(10)
        tracker.budgets(True, {UP: SpeedLimit(1000), DOWN: None}, [STREAM], [slot])
        samples += [e for e in observer.events(streaming_tick(), wall + poll * 10) if isinstance(e, Sample)]
    first, second = samples  # the first tick, and a minute later
    assert set(second.line) == {"upload"}  # download has no capacity: not measured
    up = second.line["upload"]
    assert up.capacity_kib == 1000 and up.clients_kib == 300.0 and 199 <= up.streams_kib <= 201
    # the meter's rates between the polls of that minute: 600, 600, 900, 900, 900, 900
    assert 795 <= up.measured_kib <= 805
    assert up.other_kib is not None and up.other_kib > 0
    assert first.line["upload"].measured_kib is None  # the first poll only takes the meter's baseline


def test_without_a_line_meter_samples_carry_no_line(tmp_path):
    observer = make_history_observer(HistoryRecorder(str(tmp_path / "x.sqlite3")), None)
    (sample,) = [e for e in observer.events(streaming_tick(), NOW) if isinstance(e, Sample)]
    assert sample.line == {}
    plain = HistoryObserver(HistoryRecorder(str(tmp_path / "y.sqlite3")))
    assert [e.line for e in plain.events(streaming_tick(), NOW) if isinstance(e, Sample)] == [{}]


# ---- the promises of the means, over any figures

FIGURE = st.one_of(st.none(), st.floats(min_value=0, max_value=1e6, allow_nan=False))
DIRECTION_FIGURES = st.fixed_dictionaries({
    "measured_kib": FIGURE, "clients_kib": st.floats(min_value=0, max_value=1e6), "streams_kib": st.floats(min_value=0, max_value=1e6),
    "other_kib": FIGURE, "capacity_kib": st.integers(min_value=1, max_value=10_000_000)})
LINES = st.lists(st.dictionaries(st.sampled_from(["upload", "download"]), DIRECTION_FIGURES, min_size=1), min_size=1, max_size=30)


@hypothesis_settings(max_examples=100, deadline=None)
@given(LINES)
def test_each_mean_lies_between_the_values_it_stands_for(lines):
    merged = line_means(lines)
    assert set(merged) == {d for line in lines for d in line}
    for direction, figures in merged.items():
        rows = [line[direction] for line in lines if direction in line]
        for column in ("measured_kib", "clients_kib", "streams_kib", "other_kib"):
            known = [r[column] for r in rows if r[column] is not None]
            if not known:
                assert figures[column] is None
            else:
                assert min(known) - 0.051 <= figures[column] <= max(known) + 0.051
        assert figures["capacity_kib"] == max(r["capacity_kib"] for r in rows)


@hypothesis_settings(max_examples=100, deadline=None)
@given(LINES, st.integers(min_value=1, max_value=10))
def test_downsampling_keeps_the_line_wherever_a_bucket_had_it(lines, max_points):
    points = [{"at": float(i * 60), "remote_streams": 1, "limits": {}, "servers": {}, "clients": {}, **({"line": line} if i % 3 else {})}
              for i, line in enumerate(lines)]
    merged, _ = downsample(points, 0.0, len(points) * 60.0, max_points)
    assert len(merged) <= max(max_points, len(points))
    measured_directions = {d for p in points if "line" in p for d in p["line"]}
    assert {d for p in merged if "line" in p for d in p["line"]} == measured_directions


@hypothesis_settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), FIGURE, st.floats(min_value=0, max_value=1e6)), max_size=12))
def test_the_minute_average_stands_between_its_polls_and_starts_afresh(polls):
    average = LineAverage()
    for throttling, measured, clients in polls:
        one = SimpleNamespace(measured_kib=measured, clients_kib=clients, streams_kib=0.0, other_kib=None, capacity_kib=1000)
        average.add(SimpleNamespace(throttling=throttling, directions={UP: one} if throttling else {}))
    got = average.take()
    counted = [(m, c) for t, m, c in polls if t]
    assert set(got) == ({"upload"} if counted else set())
    if counted:
        known = [m for m, _ in counted if m is not None]
        up = got["upload"]
        assert (up.measured_kib is None) == (not known)
        if known:
            assert min(known) - 0.051 <= up.measured_kib <= max(known) + 0.051
        assert min(c for _, c in counted) - 0.051 <= up.clients_kib <= max(c for _, c in counted) + 0.051
        assert up.other_kib is None and up.capacity_kib == 1000
    assert average.take() == {}


def test_the_container_feeds_the_services_line_to_the_history(tmp_path):
    from application.config.settings import LineMeterSettings
    from application.container import Container
    from tests.application.builders import settings

    container = Container(settings=settings(
        plex_url="http://127.0.0.1:9", plex_token="t", plex_events=False, qbittorrent_url="http://127.0.0.1:9",
        state_dir=str(tmp_path), status_listen="127.0.0.1:0", history_days=7,
        line_upload_kbps=1000, line_meter=LineMeterSettings("host", interface="lo")))
    container.override_providers(clock=ManualClock(1000.0))
    observer = container.history_observer()
    tracker = container.service().line
    assert isinstance(tracker, LineTracker)
    assert observer.events(streaming_tick(), NOW)[-1].line == {}  # idle tracker: nothing measured
    clock = container.clock()
    tracker.meter = ScriptedLineMeter(clock)  # the configured `lo` would measure this machine's traffic
    for _ in range(2):
        clock.advance(10)
        tracker.budgets(True, {UP: SpeedLimit(1000), DOWN: None}, [STREAM], [])
    (sample,) = [e for e in observer.events(streaming_tick(), NOW + 60) if isinstance(e, Sample)]
    assert sample.line["upload"].capacity_kib == 1000 and sample.line["upload"].measured_kib == 0.0
