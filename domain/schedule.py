"""Schedules: time windows in local time whose fields override the limit policy's.

    {"schedule": [
      {"days": "mon-fri", "from": "01:00", "to": "07:00", "throttle": false},
      {"days": "sat,sun", "from": "18:00", "to": "23:30", "streaming_upload_kbps": 200}]}

Pure: no clock and no time zone in here. The caller turns the wall clock into a `LocalTime` (a
weekday and minutes since midnight, read off a zoneinfo-aware datetime) and asks `window_at`.

This module is the schedule's public face: the windows and how they apply are in
domain/schedule_windows.py, reading and writing them as text in domain/schedule_text.py; both are
re-exported here, so callers import from `domain.schedule`.

A caller may rely on (each pinned by a property in tests/domain/test_schedule.py):
- `days` names the days a window *starts* on; a window whose `to` is not after its `from` crosses
  midnight, and the part after midnight belongs to the next day ("fri 22:00-02:00" applies on
  Saturday at 01:00, not on Friday at 01:00);
- outside every window `window_at` is None and `policy_in_window(policy, None)` is `policy` itself:
  the behaviour is exactly that without a schedule;
- for windows `find_overlap` accepts, at most one window applies at any local time, whatever the
  local time (including the missing and the repeated hour of a daylight-saving change);
- `parse_schedule(format_schedule(ws)) == ws`.
"""
from __future__ import annotations

from domain.schedule_text import (
    DAY_NAMES, MAX_LIMIT_KIB, describe_window, format_days, format_schedule, format_time, format_window, parse_days,
    parse_schedule, parse_time, parse_window,
)
from domain.schedule_windows import (
    MINUTES_PER_DAY, MINUTES_PER_WEEK, POLICY_FIELDS, LocalTime, Window, find_overlap, policy_in_window, window_at,
)

__all__ = [
    # domain/schedule_windows.py
    "MINUTES_PER_DAY", "MINUTES_PER_WEEK", "POLICY_FIELDS", "LocalTime", "Window", "find_overlap", "policy_in_window",
    "window_at",
    # domain/schedule_text.py
    "DAY_NAMES", "MAX_LIMIT_KIB", "describe_window", "format_days", "format_schedule", "format_time", "format_window",
    "parse_days", "parse_schedule", "parse_time", "parse_window",
]
