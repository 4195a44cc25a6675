"""A schedule window changes the state and the limit within one poll of its edge, and the log and
/health say which window is in force."""
from __future__ import annotations

import logging

from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
from adapters.clients.enforcers import GlobalLimitEnforcer
from application.observers.reporting import TickLogger
from application.service import ThrottleService
from application.container import build_decider
from domain.schedule import LocalTime, parse_schedule
from domain.state import StreamState
from tests.application.builders import REMOTE, ManualClock, settings

KIB = 1024
SCHEDULE = parse_schedule([
    {"days": "mon-fri", "from": "01:00", "to": "07:00", "throttle": False},
    {"days": "sat", "from": "22:00", "to": "02:00", "streaming_upload_kbps": 200},
])


class LocalClock:
    def __init__(self, weekday: int, minute: int) -> None:
        self.local = LocalTime(weekday, minute)

    def __call__(self, wall: float) -> LocalTime:
        return self.local


def service_at(local: LocalClock, limiter: RecordingQBittorrent) -> ThrottleService:
    s = settings(schedule=SCHEDULE, streaming_threshold=1, idle_threshold=1)
    return ThrottleService(ScriptedStreamSource([[REMOTE]]), GlobalLimitEnforcer(limiter), build_decider(s),
                           clock=ManualClock(), local_time=local)


def test_no_throttle_inside_a_throttle_false_window_and_back_at_its_end(caplog):
    caplog.set_level(logging.INFO, logger="plex_helper")
    limiter = RecordingQBittorrent()
    local = LocalClock(weekday=0, minute=6 * 60 + 59)  # Monday 06:59: inside
    service = service_at(local, limiter)
    log = TickLogger()
    report = service.tick()
    log.report(report)
    assert report.after.state is StreamState.STREAMING and report.effective_state is StreamState.IDLE
    assert limiter.limit_bytes == 0
    local.local = LocalTime(0, 7 * 60)  # 07:00: the window has ended; the very next poll throttles
    report = service.tick()
    log.report(report)
    assert limiter.limit_bytes == 500 * KIB
    assert "schedule: window mon-fri 01:00-07:00: no throttle in force" in caplog.text
    assert "schedule: no window in force" in caplog.text


def test_a_window_across_midnight_applies_on_both_sides_with_its_own_limit():
    limiter = RecordingQBittorrent()
    local = LocalClock(weekday=5, minute=23 * 60)  # Saturday 23:00
    service = service_at(local, limiter)
    service.tick()
    assert limiter.limit_bytes == 200 * KIB
    local.local = LocalTime(6, 60)  # Sunday 01:00: still the Saturday window
    service.tick()
    assert limiter.limit_bytes == 200 * KIB
    local.local = LocalTime(6, 2 * 60)  # 02:00: outside every window, the policy of today
    service.tick()
    assert limiter.limit_bytes == 500 * KIB
