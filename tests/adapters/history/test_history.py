import json
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from types import SimpleNamespace
from pathlib import Path

import pytest

from adapters.history.store import (
    HistoryObserver, HistoryRecorder, LimitApplied, Sample, StateChange, describe_reason, downsample,
)
from domain.overrides import Override
from domain.policies import SpeedLimit
from domain.ports import FailureKind, DownloadClientError
from domain.schedule import parse_schedule
from domain.sessions import PlaybackSession
from domain.state import MachineState, StreamState, TransitionReason
from domain.throttle import Decision, ServerReading
from domain.tick_report import ClientResult, TickReport
from tests.support.clock import ManualClock

REPO = Path(__file__).resolve().parents[3]
NOW = 1_780_000_000.0
DAY = 86400.0


@pytest.fixture
def recorder_at(tmp_path):
    made = []

    def make(path=None, **kwargs):
        kwargs.setdefault("wall_clock", ManualClock(NOW))
        r = HistoryRecorder(str(path or tmp_path / "state" / "history.sqlite3"), **kwargs)
        made.append(r)
        return r

    yield make
    for r in made:
        r.stop()


def history_warnings(caplog):
    return [r for r in caplog.records if r.levelno == logging.WARNING and "history" in r.getMessage()]


def test_record_and_query_round_trip(recorder_at):
    r = recorder_at().start()
    r.record(StateChange(NOW - 100, None, "idle", "first observation"))
    r.record(LimitApplied(NOW - 100, "qbt", 0))
    r.record(Sample(NOW - 90, 0, {"qbt": 0}, {"plex": True}, {"qbt": True}))
    r.record(StateChange(NOW - 50, "idle", "streaming", "threshold reached"))
    r.record(LimitApplied(NOW - 50, "qbt", 500))
    r.record(Sample(NOW - 30, 2, {"qbt": 500, "deluge": None}, {"plex": True}, {"qbt": True, "deluge": False}))
    assert r.flush()
    got = r.query(NOW - 3600)
    assert got["enabled"] and got["error"] is None and not got["downsampled"]
    assert got["states"] == [
        {"at": NOW - 100, "from": None, "to": "idle", "reason": "first observation"},
        {"at": NOW - 50, "from": "idle", "to": "streaming", "reason": "threshold reached"},
    ]
    assert got["limits"] == [{"at": NOW - 100, "client": "qbt", "limit_kib": 0},
                             {"at": NOW - 50, "client": "qbt", "limit_kib": 500}]
    assert got["samples"][1] == {"at": NOW - 30, "remote_streams": 2, "limits": {"qbt": 500, "deluge": None},
                                 "servers": {"plex": True}, "clients": {"qbt": True, "deluge": False}}
    json.dumps(got)  # JSON-ready
    assert r.query(NOW - 60, NOW - 40)["states"] == [got["states"][1]]
    assert r.status() == {"enabled": True, "error": None, "rows": 6, "dropped": 0, "queued": 0}


def test_history_survives_a_restart_and_old_rows_are_pruned(recorder_at, tmp_path):
    path = tmp_path / "h.sqlite3"
    first = recorder_at(path, keep_days=365).start()
    for days_ago in (40, 31, 29, 1):
        first.record(LimitApplied(NOW - days_ago * DAY, "qbt", days_ago))
    first.stop()  # stop flushes
    assert HistoryRecorder(str(path), wall_clock=ManualClock(NOW)).query(0)["limits"].__len__() == 4
    second = recorder_at(path, keep_days=30).start()
    assert second.flush()
    assert [row["limit_kib"] for row in second.query(0)["limits"]] == [29, 1]
    assert second.status()["rows"] == 2


def test_a_corrupt_file_is_one_warning_and_history_is_off(recorder_at, tmp_path, caplog):
    path = tmp_path / "history.sqlite3"
    path.write_bytes(os.urandom(8192))
    r = recorder_at(path).start()
    r.flush()
    r.record(LimitApplied(NOW, "qbt", 1))
    r.flush()
    status = r.status()
    assert status["enabled"] is False
    assert "not a database" in status["error"] and str(path) in status["error"]
    assert len(history_warnings(caplog)) == 1
    assert r.query(0) == {**r.query(0), "enabled": False, "states": [], "limits": [], "samples": []}
    r.stop()
    assert len(history_warnings(caplog)) == 1


def test_an_unwritable_place_turns_history_off(recorder_at, tmp_path, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    r = recorder_at(blocker / "history.sqlite3").start()  # root may write anywhere, but not under a file
    r.flush()
    assert r.status()["enabled"] is False
    assert r.status()["error"]
    assert len(history_warnings(caplog)) == 1
    r.record(Sample(NOW, 0))  # a no-op now
    assert r.status()["queued"] == 0


def test_a_database_locked_mid_run_turns_history_off(recorder_at, tmp_path, caplog):
    path = tmp_path / "history.sqlite3"
    r = recorder_at(path, busy_timeout_sec=0.2).start()
    r.record(LimitApplied(NOW, "qbt", 1))
    assert r.flush()
    other = sqlite3.connect(str(path), isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        r.record(LimitApplied(NOW, "qbt", 2))
        r.flush(timeout_sec=5)
        assert r.status()["enabled"] is False
        assert "locked" in r.status()["error"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert len(history_warnings(caplog)) == 1


def test_the_queue_is_bounded_and_drops_the_oldest(recorder_at):
    r = recorder_at(max_queue=100)  # not started: nothing drains the queue
    for i in range(10_000):
        r.record(LimitApplied(NOW + i, "qbt", i))
    assert r.status()["queued"] == 100
    assert r.status()["dropped"] == 9_900
    r.start()
    assert r.flush()
    kept = [row["limit_kib"] for row in r.query(0, NOW + 10_000, max_points=1000)["limits"]]
    assert kept == list(range(9_900, 10_000))


def test_record_is_cheap_and_never_touches_the_disk(recorder_at, tmp_path):
    r = recorder_at(tmp_path / "never" / "h.sqlite3")  # not started
    for i in range(1000):
        r.record(Sample(NOW + i, 1, {"qbt": 500}, {"plex": True}, {"qbt": True}))
    assert not (tmp_path / "never").exists()


def test_a_week_of_samples_is_downsampled_for_a_chart(recorder_at):
    r = recorder_at(wall_clock=ManualClock(NOW), max_queue=20_000).start()
    week = 7 * 1440
    for minute in range(week):
        streams = 3 if minute == 5000 else 0  # one short stream must stay visible
        limit = 100 if minute == 6000 else 0  # and one short throttle
        r.record(Sample(NOW - (week - minute) * 60, streams, {"qbt": limit}, {"plex": minute != 7000}, {"qbt": True}))
    assert r.flush(timeout_sec=20)
    got = r.query(NOW - 7 * DAY, NOW)
    assert got["downsampled"]
    assert 1000 <= len(got["samples"]) <= 2000
    assert max(s["remote_streams"] for s in got["samples"]) == 3
    assert [s["limits"]["qbt"] for s in got["samples"]].count(100) == 1
    assert [s["servers"]["plex"] for s in got["samples"]].count(False) == 1
    assert len(json.dumps(got)) < 400_000
    day = r.query(NOW - DAY, NOW)
    assert not day["downsampled"] and len(day["samples"]) == 1440


def test_downsample_keeps_the_tightest_limit_and_unknowns():
    points = [{"at": float(i), "remote_streams": None if i == 1 else i % 2, "limits": {"a": [0, 300, None, 200][i]},
               "servers": {}, "clients": {}} for i in range(4)]
    merged, did = downsample(points, 0, 4, 1)
    assert did and merged == [{"at": 0.0, "remote_streams": 1, "limits": {"a": 200}, "servers": {}, "clients": {}}]


def test_stop_is_bounded_and_idempotent(recorder_at):
    r = recorder_at().start()
    r.record(Sample(NOW, 0))
    started = time.monotonic()
    r.stop(timeout_sec=3)
    r.stop()
    assert time.monotonic() - started < 3
    assert r.status()["rows"] == 1


# ---- from a TickReport

REMOTE = PlaybackSession(state="playing", local=False, location="wan", user="friend", player="TV", bandwidth_kbps=8000)


def tick(state, effective=None, applied=None, reason=TransitionReason.THRESHOLD, override=None, client_error=None,
         server_error=None):
    effective = effective or state
    decision = Decision(
        before=MachineState(), after=MachineState(state=state, last_reason=reason),
        remote=(REMOTE,) if state is StreamState.STREAMING else (), failed_servers=("plex",) if server_error else (),
        effective=effective, budget=SpeedLimit(500), desired=SpeedLimit(500), changed=True, override=override,
    )
    servers = (ServerReading("plex", (REMOTE,), error=server_error),)
    clients = (ClientResult("qbt", target=SpeedLimit(500), applied=applied, checked=applied is not None or client_error is not None,
                            error=client_error),)
    return TickReport(decision, servers, clients)


def test_the_observer_turns_ticks_into_events():
    recorder = HistoryRecorder("/nonexistent/never-opened")
    clock = ManualClock(NOW)
    observer = HistoryObserver(recorder, wall_clock=clock, sample_every_sec=60)
    first = observer.events(tick(StreamState.IDLE, applied=SpeedLimit(0), reason=TransitionReason.FIRST_OBSERVATION), NOW)
    assert first == [
        StateChange(NOW, None, "idle", "first observation"),
        LimitApplied(NOW, "qbt", 0),
        Sample(NOW, 0, {"qbt": 0}, {"plex": True}, {"qbt": True}),
    ]
    assert observer.events(tick(StreamState.IDLE), NOW + 10) == []  # nothing changed, no sample due
    streaming = observer.events(tick(StreamState.STREAMING, applied=SpeedLimit(500)), NOW + 20)
    assert streaming == [StateChange(NOW + 20, "idle", "streaming", "threshold reached"), LimitApplied(NOW + 20, "qbt", 500)]
    down = DownloadClientError(FailureKind.UNREACHABLE, "qBittorrent not reachable")
    assert observer.events(tick(StreamState.STREAMING, client_error=down), NOW + 60) == [
        Sample(NOW + 60, 1, {"qbt": 500}, {"plex": True}, {"qbt": False})]
    forced = observer.events(tick(StreamState.STREAMING, effective=StreamState.IDLE,
                                  override=Override(StreamState.IDLE, NOW + 3600)), NOW + 70)
    assert forced == [StateChange(NOW + 70, "streaming", "idle", "override")]
    observer.report(tick(StreamState.STREAMING, applied=SpeedLimit(500)))  # goes to the recorder's queue
    assert recorder.status()["queued"] == 3  # a state change (override over), a limit, a sample (clock: NOW)


# ---- SIGKILL mid-write

WRITER = textwrap.dedent("""
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from adapters.history.store import HistoryRecorder, LimitApplied
    r = HistoryRecorder(sys.argv[1], max_queue=100000).start()
    i = 0
    while True:
        for _ in range(50):
            r.record(LimitApplied(time.time(), "qbt", i))
            i += 1
        if i % 500 == 0:
            r.flush(timeout_sec=5)
            print(r.status()["rows"], flush=True)  # committed: at least this many
""")


def test_sigkill_mid_write_leaves_a_readable_database_intact_to_the_last_commit(tmp_path):
    path = tmp_path / "history.sqlite3"
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    child = subprocess.Popen([sys.executable, str(script), str(path), str(REPO)], stdout=subprocess.PIPE, text=True)
    committed = 0
    try:
        deadline = time.monotonic() + 60
        while committed < 5000 and time.monotonic() < deadline:
            line = child.stdout.readline()
            if not line:
                break
            committed = int(line)
        assert committed >= 5000, "the writer did not get going"
        time.sleep(0.05)  # let it be in the middle of further batches
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        child.stdout.close()
    conn = sqlite3.connect(str(path))
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        values = [v for (v,) in conn.execute("SELECT limit_kib FROM limits ORDER BY rowid")]
    finally:
        conn.close()
    assert len(values) >= committed
    assert values == list(range(len(values)))  # whole batches in order, no gap: intact to the last commit
    reopened = HistoryRecorder(str(path)).start()
    try:
        assert reopened.flush() and reopened.status()["enabled"] and reopened.status()["rows"] == len(values)
    finally:
        reopened.stop()


def test_a_schedule_window_is_named_as_the_reason():
    [window] = parse_schedule([{"days": "mon-fri", "from": "01:00", "to": "07:00", "throttle": False}])
    report = tick(StreamState.STREAMING, effective=StreamState.IDLE)
    plain = dict(override=None, override_expired=None, flap_held=False, after=report.after)
    began = SimpleNamespace(**plain, decision=SimpleNamespace(window=window, window_changed=True))
    ended = SimpleNamespace(**plain, decision=SimpleNamespace(window=None, window_changed=True))
    assert describe_reason(began) == "schedule: mon-fri 01:00-07:00: no throttle"
    assert describe_reason(ended) == "schedule window ended"
    assert describe_reason(report) == "threshold reached"  # a Decision without the schedule's fields yet


# --- links planted in state_dir are not followed -----------------------------------------------------

@pytest.mark.parametrize("linked", ["history.sqlite3", "history.sqlite3-wal", "history.sqlite3-shm"])
def test_a_symlinked_database_is_refused_with_a_clear_error(recorder_at, tmp_path, caplog, linked):
    state = tmp_path / "state"
    state.mkdir()
    victim = tmp_path / "victim"
    victim.write_bytes(b"not yours")
    os.symlink(victim, state / linked)
    r = recorder_at(state / "history.sqlite3").start()
    r.record(StateChange(NOW, "idle", "streaming", "threshold"))
    assert r.flush(5)
    assert r.enabled is False
    assert "%s is a symbolic link" % (state / linked) in r.status()["error"]
    assert "state_dir" in r.status()["error"]
    assert victim.read_bytes() == b"not yours"
    assert len(history_warnings(caplog)) == 1


def test_a_database_in_a_symlinked_state_dir_is_fine(recorder_at, tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    os.symlink(real, tmp_path / "state")  # systemd's DynamicUser makes state directories links
    r = recorder_at(tmp_path / "state" / "history.sqlite3").start()
    r.record(StateChange(NOW, "idle", "streaming", "threshold"))
    assert r.flush(5)
    assert r.enabled and (real / "history.sqlite3").exists()
