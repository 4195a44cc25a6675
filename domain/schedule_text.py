"""Schedule windows as text: days, times, the config's JSON shape, and a description for people.

Pure: `parse_*` read the config's values (ValueError naming the field), `format_*` write them back
(`parse_schedule(format_schedule(ws)) == ws`), `describe_window` is for the log, /health and the
page. The windows themselves are domain/schedule_windows.py.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, FrozenSet, Iterable, List, Mapping, Sequence, Tuple

from domain.schedule_windows import MINUTES_PER_DAY, POLICY_FIELDS, Window, find_overlap
from domain.units import UnitMissing, parse_rate

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MAX_LIMIT_KIB = 2_000_000  # the config's cap for any rate (about 16 Gbit/s)
_WINDOW_KEYS = ("days", "from", "to", "throttle")


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


__all__ = [
    "DAY_NAMES", "MAX_LIMIT_KIB", "describe_window", "format_days", "format_schedule", "format_time", "format_window",
    "parse_days", "parse_schedule", "parse_time", "parse_window",
]
