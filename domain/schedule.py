"""Schedules: time windows in local time whose fields override the limit policy's.

    {"schedule": [
      {"days": "mon-fri", "from": "01:00", "to": "07:00", "throttle": false},
      {"days": "sat,sun", "from": "18:00", "to": "23:30", "streaming_upload_kbps": 200}]}

Pure: no clock and no time zone in here. The caller turns the wall clock into a `LocalTime` (a
weekday and minutes since midnight, read off a zoneinfo-aware datetime) and asks `window_at`.

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

from dataclasses import dataclass, fields, is_dataclass, replace
from datetime import datetime
from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

from domain.policies import FixedLimitPolicy, LimitPolicy, SpeedLimit
from domain.sessions import PlaybackSession
from domain.state import StreamState
from domain.units import UnitMissing, parse_rate

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60
MINUTES_PER_WEEK = 7 * MINUTES_PER_DAY
MAX_LIMIT_KIB = 2_000_000  # the config's cap for any rate (about 16 Gbit/s)


@dataclass(frozen=True)
class LocalTime:
    """A moment on the local wall clock: the weekday (0 = Monday) and minutes since midnight."""

    weekday: int
    minute: int

    def __post_init__(self) -> None:
        if not 0 <= self.weekday <= 6 or not 0 <= self.minute < MINUTES_PER_DAY:
            raise ValueError("weekday must be 0..6 and minute 0..1439")

    @classmethod
    def of(cls, moment: datetime) -> "LocalTime":
        """The wall-clock fields of `moment` (naive, or aware in the zone it should be read in)."""
        return cls(moment.weekday(), moment.hour * 60 + moment.minute)

    @property
    def minute_of_week(self) -> int:
        return self.weekday * MINUTES_PER_DAY + self.minute


# ---- what a window may override: the config's field name -> how it changes a policy.
# Adding a field is one entry here (and, if it is no rate, its parser in _parse_override).

@dataclass(frozen=True)
class _IdleReplaced:
    """Any policy with another idle limit (the built-in ones are simply copied with a new `idle`)."""

    base: LimitPolicy
    idle: SpeedLimit

    @property
    def idle_limit(self) -> SpeedLimit:
        return self.idle

    def limit_for(self, state: StreamState, remote_sessions: Sequence[PlaybackSession]) -> SpeedLimit:
        return self.base.limit_for(state, remote_sessions) if state is StreamState.STREAMING else self.idle


def _with_idle(policy: LimitPolicy, limit: SpeedLimit) -> LimitPolicy:
    if is_dataclass(policy) and "idle" in {f.name for f in fields(policy)}:
        return replace(policy, idle=limit)  # type: ignore[type-var]
    return _IdleReplaced(policy, limit)


def _with_streaming(policy: LimitPolicy, limit: SpeedLimit) -> LimitPolicy:
    # a window's streaming limit is a fixed one, whatever limit_policy says (tiers, dynamic)
    return FixedLimitPolicy(policy.idle_limit, limit)


POLICY_FIELDS: Dict[str, Callable[[LimitPolicy, SpeedLimit], LimitPolicy]] = {
    "streaming_upload_kbps": _with_streaming,
    "idle_upload_kbps": _with_idle,
}
_WINDOW_KEYS = ("days", "from", "to", "throttle")


@dataclass(frozen=True)
class Window:
    """From `start` to `end` (minutes since midnight; `end` may be 1440 for "24:00") on each of
    `days` (0 = Monday), crossing midnight when `end` is not after `start`. Inside it, `throttle`
    False means no throttle at all; otherwise `overrides` (config field -> KiB/s) replace the
    policy's fields."""

    days: FrozenSet[int]
    start: int
    end: int
    throttle: bool = True
    overrides: Tuple[Tuple[str, int], ...] = ()

    def __post_init__(self) -> None:
        if not self.days or not all(0 <= d <= 6 for d in self.days):
            raise ValueError("days must name at least one of 0..6")
        if not 0 <= self.start < MINUTES_PER_DAY or not 0 <= self.end <= MINUTES_PER_DAY:
            raise ValueError("start must be 0..1439 and end 0..1440")
        if self.length == 0:
            raise ValueError("the window is empty")
        unknown = [name for name, _ in self.overrides if name not in POLICY_FIELDS]
        if unknown:
            raise ValueError("cannot override %s" % ", ".join(unknown))
        object.__setattr__(self, "days", frozenset(self.days))
        object.__setattr__(self, "overrides", tuple(sorted(self.overrides)))

    @property
    def length(self) -> int:
        """Minutes the window lasts (24:00 after 00:00 is a whole day)."""
        if self.start == 0 and self.end == MINUTES_PER_DAY:
            return MINUTES_PER_DAY
        return (self.end - self.start) % MINUTES_PER_DAY

    @property
    def crosses_midnight(self) -> bool:
        return self.start + self.length > MINUTES_PER_DAY

    def spans(self) -> List[Tuple[int, int]]:
        """The half-open intervals of the week (minutes from Monday 00:00) the window covers."""
        out: List[Tuple[int, int]] = []
        for day in sorted(self.days):
            a = day * MINUTES_PER_DAY + self.start
            b = a + self.length
            if b <= MINUTES_PER_WEEK:
                out.append((a, b))
            else:  # Sunday night into Monday morning
                out.extend([(a, MINUTES_PER_WEEK), (0, b - MINUTES_PER_WEEK)])
        return out

    def applies_at(self, local: LocalTime) -> bool:
        m = local.minute_of_week
        return any(day_offset < self.length for day_offset in
                   ((m - (d * MINUTES_PER_DAY + self.start)) % MINUTES_PER_WEEK for d in self.days))

    def override(self, name: str) -> Optional[int]:
        return dict(self.overrides).get(name)


def window_at(windows: Sequence[Window], local: LocalTime) -> Optional[Window]:
    """The window in force at `local`, or None (then the policy is exactly the configured one).
    With overlapping windows (which parse_schedule refuses) the first listed wins."""
    for window in windows:
        if window.applies_at(local):
            return window
    return None


def find_overlap(windows: Sequence[Window]) -> Optional[Tuple[int, int]]:
    """The indexes (i < j) of the first two windows that share a minute of the week, or None."""
    spans = [w.spans() for w in windows]
    for i in range(len(windows)):
        for j in range(i + 1, len(windows)):
            if any(a < d and c < b for a, b in spans[i] for c, d in spans[j]):
                return i, j
    return None


def policy_in_window(policy: LimitPolicy, window: Optional[Window]) -> LimitPolicy:
    """The policy that applies inside `window`: `policy` itself outside every window; idle's limit
    in every state where the window says `throttle: false`; else `policy` with the window's fields."""
    if window is None:
        return policy
    for name, kib in window.overrides:
        policy = POLICY_FIELDS[name](policy, SpeedLimit(kib))
    if not window.throttle:
        idle = policy.idle_limit
        return FixedLimitPolicy(idle, idle)
    return policy


# ---- text: days, times, the JSON shape, a description for people

def format_days(days: Iterable[int]) -> str:
    """Canonical spelling: runs of three or more days (wrapping over Sunday) as ranges, the rest
    as a list, e.g. {0,1,2,3,4} -> "mon-fri", {5,6} -> "sat,sun", {4,5,6,0} -> "fri-mon"."""
    chosen = sorted(set(days))
    if len(chosen) == 7:
        return "mon-sun"
    # start each run at a chosen day whose previous day is not chosen
    runs: List[List[int]] = []
    for d in chosen:
        if (d - 1) % 7 not in chosen:
            run = [d]
            while (run[-1] + 1) % 7 in chosen:
                run.append((run[-1] + 1) % 7)
            runs.append(run)
    parts: List[str] = []
    for run in runs:
        if len(run) >= 3:
            parts.append("%s-%s" % (DAY_NAMES[run[0]], DAY_NAMES[run[-1]]))
        else:
            parts.extend(DAY_NAMES[d] for d in run)
    return ",".join(parts)


def format_time(minute: int) -> str:
    return "%02d:%02d" % divmod(minute, 60)


def format_window(window: Window) -> Dict[str, Any]:
    """The window in the config's JSON shape."""
    out: Dict[str, Any] = {"days": format_days(window.days), "from": format_time(window.start),
                           "to": format_time(window.end)}
    if not window.throttle:
        out["throttle"] = False
    out.update(window.overrides)
    return out


def format_schedule(windows: Sequence[Window]) -> List[Dict[str, Any]]:
    return [format_window(w) for w in windows]


def _describe_kib(kib: int) -> str:
    return "unlimited" if kib == 0 else "%d KiB/s" % kib


def describe_window(window: Window) -> str:
    """For the log, /health and the page, e.g. "mon-fri 01:00-07:00: no throttle" or
    "sat,sun 18:00-23:30: streaming 200 KiB/s"."""
    what: List[str] = []
    if not window.throttle:
        what.append("no throttle")
    streaming, idle = window.override("streaming_upload_kbps"), window.override("idle_upload_kbps")
    if streaming is not None:
        what.append("streaming %s" % _describe_kib(streaming))
    if idle is not None:
        what.append("idle %s" % _describe_kib(idle))
    what.extend("%s %s" % (n, _describe_kib(v)) for n, v in window.overrides
                if n not in ("streaming_upload_kbps", "idle_upload_kbps"))
    return "%s %s-%s: %s" % (format_days(window.days), format_time(window.start), format_time(window.end),
                             ", ".join(what))


def parse_days(value: Any) -> FrozenSet[int]:
    """"mon-fri", "sat,sun", "fri-mon" (wraps), "daily", or a list of such strings."""
    items: List[str]
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        items = [part for v in value for part in v.split(",")]
    else:
        raise ValueError('must be text such as "mon-fri" or "sat,sun"')
    days: set = set()
    for item in items:
        text = item.strip().lower()
        if text in ("daily", "every day", "all", "*"):
            days.update(range(7))
            continue
        first, dash, last = text.partition("-")
        a = _day(first)
        if not dash:
            days.add(a)
            continue
        b = _day(last)
        days.update((a + k) % 7 for k in range((b - a) % 7 + 1))
    return frozenset(days)


def _day(text: str) -> int:
    name = text.strip().lower()
    if name in DAY_NAMES:
        return DAY_NAMES.index(name)
    if name in _FULL_NAMES:
        return _FULL_NAMES.index(name)
    shown = name if len(name) <= 20 else name[:20] + "..."
    raise ValueError("%r is not a day; use mon, tue, wed, thu, fri, sat, sun, ranges such as mon-fri, "
                     "or lists such as sat,sun" % shown)


def parse_time(value: Any, allow_24: bool = False) -> int:
    """"HH:MM" -> minutes since midnight; "24:00" only where `allow_24` (a window's end)."""
    if isinstance(value, str):
        hours, colon, minutes = value.strip().partition(":")
        if colon and hours.isdigit() and minutes.isdigit() and len(hours) <= 2 and len(minutes) == 2:
            h, m = int(hours), int(minutes)
            if h < 24 and m < 60:
                return h * 60 + m
            if allow_24 and h == 24 and m == 0:
                return MINUTES_PER_DAY
    raise ValueError("must be HH:MM, from 00:00 to %s" % ("24:00" if allow_24 else "23:59"))


def _parse_limit(value: Any) -> int:
    if isinstance(value, str):
        try:
            kib = parse_rate(value).whole_kib()
        except UnitMissing as exc:
            raise ValueError("must be a whole number (KiB/s) or have a unit: %s" % exc) from None
    elif isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number (KiB/s) or text with a unit such as \"2 Mbit/s\"")
    else:
        kib = value
    if not 0 <= kib <= MAX_LIMIT_KIB:
        raise ValueError("must be from 0 (unlimited) to %d KiB/s" % MAX_LIMIT_KIB)
    return kib


def parse_window(entry: Any, name: str = "window") -> Window:
    """One entry of the JSON list; ValueError messages start with `name`, e.g. "schedule[1]: from: ..."."""
    if not isinstance(entry, Mapping):
        raise ValueError('%s: must be an object such as {"days": "mon-fri", "from": "01:00", "to": "07:00", '
                         '"throttle": false}' % name)
    known = _WINDOW_KEYS + tuple(POLICY_FIELDS)
    unknown = sorted(str(k) for k in entry if k not in known)
    if unknown:
        raise ValueError("%s: unknown field %s (fields: %s)" % (name, ", ".join(unknown), ", ".join(known)))
    for key in ("days", "from", "to"):
        if key not in entry:
            raise ValueError("%s: %s: required" % (name, key))

    def field_of(key: str, parse: Callable[[Any], Any]) -> Any:
        try:
            return parse(entry[key])
        except ValueError as exc:
            raise ValueError("%s: %s: %s" % (name, key, exc)) from None

    days = field_of("days", parse_days)
    start = field_of("from", parse_time)
    end = field_of("to", lambda v: parse_time(v, allow_24=True))
    if (end - start) % MINUTES_PER_DAY == 0 and not (start == 0 and end == MINUTES_PER_DAY):
        raise ValueError("%s: from and to are both %s, so the window is empty; for a whole day write "
                         "from 00:00 to 24:00" % (name, format_time(start)))
    throttle = True
    if "throttle" in entry:
        if not isinstance(entry["throttle"], bool):
            raise ValueError("%s: throttle: must be true or false" % name)
        throttle = entry["throttle"]
    overrides = tuple((key, field_of(key, _parse_limit)) for key in POLICY_FIELDS if key in entry)
    if not throttle and "streaming_upload_kbps" in entry:
        raise ValueError("%s: throttle false and streaming_upload_kbps contradict each other: without a "
                         "throttle there is no streaming limit" % name)
    if throttle and not overrides:
        raise ValueError("%s: changes nothing: add \"throttle\": false or a limit (%s)"
                         % (name, ", ".join(POLICY_FIELDS)))
    return Window(days=days, start=start, end=end, throttle=throttle, overrides=overrides)


def parse_schedule(value: Any, name: str = "schedule") -> Tuple[Window, ...]:
    """The config's list of windows. Overlapping windows are an error naming both."""
    if not isinstance(value, list):
        raise ValueError("%s: must be a list of windows" % name)
    windows = tuple(parse_window(entry, "%s[%d]" % (name, i)) for i, entry in enumerate(value))
    overlap = find_overlap(windows)
    if overlap is not None:
        i, j = overlap
        raise ValueError("%s[%d] (%s) and %s[%d] (%s) overlap; a moment may belong to one window only"
                         % (name, i, describe_window(windows[i]), name, j, describe_window(windows[j])))
    return windows
