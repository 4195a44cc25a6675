from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.policies import DynamicLimitPolicy, FixedLimitPolicy, SpeedLimit, StreamTier, TieredLimitPolicy
from domain.schedule import (
    MINUTES_PER_DAY, MINUTES_PER_WEEK, POLICY_FIELDS, LocalTime, Window, describe_window, find_overlap,
    format_days, format_schedule, format_window, parse_days, parse_schedule, parse_window, policy_in_window,
    window_at,
)
from domain.sessions import PlaybackSession
from domain.state import StreamState

days_sets = st.frozensets(st.integers(0, 6), min_size=1)
limits = st.integers(0, 2_000_000)
local_times = st.builds(LocalTime, st.integers(0, 6), st.integers(0, MINUTES_PER_DAY - 1))


@st.composite
def windows(draw, max_length=MINUTES_PER_DAY):
    start = draw(st.integers(0, MINUTES_PER_DAY - 1))
    if start == 0 and draw(st.integers(0, 20)) == 0:
        end = MINUTES_PER_DAY  # 00:00-24:00
    else:
        end = (start + draw(st.integers(1, min(max_length, MINUTES_PER_DAY - 1)))) % MINUTES_PER_DAY
    throttle = draw(st.booleans())
    names = draw(st.frozensets(st.sampled_from(sorted(POLICY_FIELDS)), min_size=0 if not throttle else 1))
    if not throttle:
        names = names - {"streaming_upload_kbps"}
    overrides = tuple((name, draw(limits)) for name in sorted(names))
    return Window(days=draw(days_sets), start=start, end=end, throttle=throttle, overrides=overrides)


def non_overlapping(ws):
    kept = []
    for w in ws:
        if find_overlap(kept + [w]) is None:
            kept.append(w)
    return kept


schedules = st.lists(windows(max_length=300), max_size=6).map(non_overlapping)


def at(weekday, hhmm):
    h, m = map(int, hhmm.split(":"))
    return LocalTime(weekday, h * 60 + m)


MON, TUE, WED, THU, FRI, SAT, SUN = range(7)


# ---- when a window applies

def test_a_window_crossing_midnight_belongs_to_the_day_it_starts_on():
    [w] = parse_schedule([{"days": "fri", "from": "22:00", "to": "02:00", "throttle": False}])
    assert w.crosses_midnight
    assert w.applies_at(at(FRI, "22:00")) and w.applies_at(at(FRI, "23:59"))
    assert w.applies_at(at(SAT, "00:00")) and w.applies_at(at(SAT, "01:00")) and w.applies_at(at(SAT, "01:59"))
    assert not w.applies_at(at(SAT, "02:00"))
    assert not w.applies_at(at(FRI, "01:00"))  # the part after midnight is Saturday's
    assert not w.applies_at(at(FRI, "21:59"))


def test_sunday_night_runs_into_monday_morning():
    [w] = parse_schedule([{"days": "sun", "from": "23:00", "to": "01:00", "throttle": False}])
    assert w.applies_at(at(SUN, "23:30")) and w.applies_at(at(MON, "00:30"))
    assert not w.applies_at(at(MON, "01:00")) and not w.applies_at(at(SAT, "23:30"))


@given(windows())
def test_a_window_crossing_midnight_applies_on_both_sides_of_it(w):
    for day in w.days:
        if w.crosses_midnight:
            assert w.applies_at(LocalTime(day, MINUTES_PER_DAY - 1))
            assert w.applies_at(LocalTime((day + 1) % 7, 0))
        assert w.applies_at(LocalTime(day, w.start))


@given(windows(), local_times)
def test_applies_at_is_exactly_the_spans(w, local):
    m = local.minute_of_week
    assert w.applies_at(local) == any(a <= m < b for a, b in w.spans())
    assert sum(b - a for a, b in w.spans()) == len(w.days) * w.length  # no span is lost or doubled


@given(schedules, local_times)
def test_for_non_overlapping_windows_at_most_one_applies(ws, local):
    assert find_overlap(ws) is None
    applying = [w for w in ws if w.applies_at(local)]
    assert len(applying) <= 1
    assert window_at(ws, local) == (applying[0] if applying else None)


@given(st.lists(windows(), min_size=2, max_size=5))
def test_find_overlap_names_two_windows_that_share_a_minute(ws):
    found = find_overlap(ws)
    shared = [(i, j) for i in range(len(ws)) for j in range(i + 1, len(ws))
              if any(a < d and c < b for a, b in ws[i].spans() for c, d in ws[j].spans())]
    assert found == (shared[0] if shared else None)
    if found is not None:
        i, j = found
        a, b = next((max(a, c), min(b, d)) for a, b in ws[i].spans() for c, d in ws[j].spans() if a < d and c < b)
        moment = LocalTime(a // MINUTES_PER_DAY, a % MINUTES_PER_DAY)
        assert ws[i].applies_at(moment) and ws[j].applies_at(moment)


@given(schedules, local_times)
def test_outside_every_window_the_policy_is_exactly_todays(ws, local):
    policy = FixedLimitPolicy(SpeedLimit(0), SpeedLimit(500))
    window = window_at(ws, local)
    if window is None:
        assert not any(w.applies_at(local) for w in ws)
    assert (policy_in_window(policy, window) is policy) == (window is None)


# ---- daylight saving: the wall clock skips an hour and repeats one

BERLIN = ZoneInfo("Europe/Berlin")


def every_utc_minute_of(local_day):
    """Every instant (minute by minute) whose Berlin wall clock shows `local_day`: 23 h or 25 h."""
    start = datetime(local_day.year, local_day.month, local_day.day, tzinfo=BERLIN).astimezone(timezone.utc)
    moment = start
    while True:
        local = moment.astimezone(BERLIN)
        if local.date() != local_day:
            return
        yield local
        moment += timedelta(minutes=1)


@pytest.mark.parametrize("day, minutes", [(datetime(2026, 3, 29).date(), 23 * 60), (datetime(2026, 10, 25).date(), 25 * 60)])
@settings(max_examples=25, deadline=None)
@given(ws=schedules)
def test_daylight_saving_days_never_raise_and_never_apply_two_windows(day, minutes, ws):
    seen = list(every_utc_minute_of(day))
    assert len(seen) == minutes
    for local in seen:
        moment = LocalTime.of(local)
        assert moment.weekday == SUN
        assert sum(w.applies_at(moment) for w in ws) <= 1
        window_at(ws, moment)
    for minute in range(MINUTES_PER_DAY):  # the naive wall clock too, the missing hour included
        naive = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)
        assert sum(w.applies_at(LocalTime.of(naive)) for w in ws) <= 1


def test_a_window_in_the_missing_hour_is_skipped_and_in_the_repeated_hour_applies_twice():
    [w] = parse_schedule([{"days": "sun", "from": "02:15", "to": "02:45", "throttle": False}])
    spring = [t for t in every_utc_minute_of(datetime(2026, 3, 29).date()) if w.applies_at(LocalTime.of(t))]
    autumn = [t for t in every_utc_minute_of(datetime(2026, 10, 25).date()) if w.applies_at(LocalTime.of(t))]
    assert spring == []
    assert len(autumn) == 60  # both 02:15-02:45, before and after the clocks go back
    assert {t.fold for t in autumn} == {0, 1}


# ---- the policy inside a window

REMOTE = (PlaybackSession(state="playing", local=False, bandwidth_kbps=8000, user="friend"),)


@given(windows(), limits, limits)
def test_throttle_false_gives_idles_limit_in_every_state(w, idle, streaming):
    policy = policy_in_window(FixedLimitPolicy(SpeedLimit(idle), SpeedLimit(streaming)), w)
    expected_idle = SpeedLimit(w.override("idle_upload_kbps") if w.override("idle_upload_kbps") is not None else idle)
    assert policy.idle_limit == expected_idle
    assert policy.limit_for(StreamState.IDLE, REMOTE) == expected_idle
    if not w.throttle:
        assert policy.limit_for(StreamState.STREAMING, REMOTE) == expected_idle
    elif w.override("streaming_upload_kbps") is not None:
        assert policy.limit_for(StreamState.STREAMING, REMOTE) == SpeedLimit(w.override("streaming_upload_kbps"))
    else:
        assert policy.limit_for(StreamState.STREAMING, REMOTE) == SpeedLimit(streaming)


def test_a_windows_streaming_limit_replaces_tiers_and_dynamic():
    [w] = parse_schedule([{"days": "sat,sun", "from": "18:00", "to": "23:30", "streaming_upload_kbps": 200}])
    tiers = TieredLimitPolicy(SpeedLimit(0), (StreamTier(1, SpeedLimit(800)),))
    dynamic = DynamicLimitPolicy(SpeedLimit(0), capacity_kib=4000)
    for base in (tiers, dynamic):
        inside = policy_in_window(base, w)
        assert inside.limit_for(StreamState.STREAMING, REMOTE) == SpeedLimit(200)
        assert inside.idle_limit == SpeedLimit(0)


def test_a_windows_idle_limit_keeps_the_policys_streaming_side():
    [w] = parse_schedule([{"days": "mon", "from": "00:00", "to": "24:00", "idle_upload_kbps": "1 MiB/s"}])
    dynamic = DynamicLimitPolicy(SpeedLimit(0), capacity_kib=4000)
    inside = policy_in_window(dynamic, w)
    assert inside.idle_limit == SpeedLimit(1024)
    assert inside.limit_for(StreamState.STREAMING, REMOTE) == dynamic.limit_for(StreamState.STREAMING, REMOTE)


# ---- text

@given(days_sets)
def test_days_round_trip(days):
    assert parse_days(format_days(days)) == days


@pytest.mark.parametrize("text, days", [
    ("mon-fri", {0, 1, 2, 3, 4}), ("sat,sun", {5, 6}), ("fri-mon", {4, 5, 6, 0}), ("Sunday", {6}),
    ("daily", set(range(7))), ("mon, wed ,fri", {0, 2, 4}), ("sun-sun", {6}),
])
def test_days(text, days):
    assert parse_days(text) == days
    assert parse_days([text]) == days


@given(schedules)
def test_parse_format_round_trip(ws):
    assert parse_schedule(format_schedule(ws)) == tuple(ws)
    for w in ws:
        assert parse_window(format_window(w)) == w


def test_describe():
    ws = parse_schedule([{"days": "mon-fri", "from": "01:00", "to": "07:00", "throttle": False},
                         {"days": "sat,sun", "from": "18:00", "to": "23:30", "streaming_upload_kbps": 200},
                         {"days": "wed", "from": "12:00", "to": "13:00", "throttle": False, "idle_upload_kbps": 0}])
    assert [describe_window(w) for w in ws] == [
        "mon-fri 01:00-07:00: no throttle",
        "sat,sun 18:00-23:30: streaming 200 KiB/s",
        "wed 12:00-13:00: no throttle, idle unlimited",
    ]


def test_the_issue_example_applies_where_it_should():
    ws = parse_schedule([{"days": "mon-fri", "from": "01:00", "to": "07:00", "throttle": False},
                         {"days": "sat,sun", "from": "18:00", "to": "23:30", "streaming_upload_kbps": 200}])
    assert window_at(ws, at(TUE, "03:00")) is ws[0]
    assert window_at(ws, at(SAT, "03:00")) is None
    assert window_at(ws, at(SUN, "20:00")) is ws[1]
    assert window_at(ws, at(SUN, "23:30")) is None
    assert window_at(ws, LocalTime.of(datetime(2026, 3, 31, 6, 59))) is ws[0]  # a Tuesday


GOOD = {"days": "mon", "from": "01:00", "to": "02:00", "throttle": False}


@pytest.mark.parametrize("entries, message", [
    ("mon-fri", "schedule: must be a list of windows"),
    ([GOOD, "x"], "schedule[1]: must be an object"),
    ([GOOD, {**GOOD, "days": "tue", "from": "1am"}], "schedule[1]: from: must be HH:MM"),
    ([{**GOOD, "to": "24:01"}], "schedule[0]: to: must be HH:MM, from 00:00 to 24:00"),
    ([{**GOOD, "from": "24:00"}], "schedule[0]: from: must be HH:MM, from 00:00 to 23:59"),
    ([{**GOOD, "days": "mon-xyz"}], "schedule[0]: days: 'xyz' is not a day"),
    ([{**GOOD, "days": ""}], "schedule[0]: days: '' is not a day"),
    ([{**GOOD, "days": 3}], "schedule[0]: days: must be text"),
    ([{"days": "mon", "from": "01:00"}], "schedule[0]: to: required"),
    ([{**GOOD, "speed": 1}], "schedule[0]: unknown field speed"),
    ([{**GOOD, "throttle": "no"}], "schedule[0]: throttle: must be true or false"),
    ([{**GOOD, "streaming_upload_kbps": 5}], "schedule[0]: throttle false and streaming_upload_kbps contradict"),
    ([{**GOOD, "throttle": True}], "schedule[0]: changes nothing"),
    ([{**GOOD, "throttle": True, "streaming_upload_kbps": -1}], "schedule[0]: streaming_upload_kbps: must be from 0"),
    ([{**GOOD, "throttle": True, "streaming_upload_kbps": True}], "schedule[0]: streaming_upload_kbps: must be a whole"),
    ([{**GOOD, "throttle": True, "streaming_upload_kbps": "100"}], "schedule[0]: streaming_upload_kbps: must be a whole number (KiB/s) or have a unit"),
    ([{**GOOD, "from": "07:00", "to": "07:00"}], "schedule[0]: from and to are both 07:00"),
    ([GOOD, {**GOOD, "days": "sun-tue", "from": "01:59", "to": "03:00"}],
     "schedule[0] (mon 01:00-02:00: no throttle) and schedule[1] (sun-tue 01:59-03:00: no throttle) overlap"),
    ([{**GOOD, "days": "fri", "from": "22:00", "to": "02:00"}, {**GOOD, "days": "sat", "from": "01:00", "to": "03:00"}],
     "schedule[0] (fri 22:00-02:00: no throttle) and schedule[1] (sat 01:00-03:00: no throttle) overlap"),
])
def test_parse_errors_name_the_entry(entries, message):
    with pytest.raises(ValueError) as caught:
        parse_schedule(entries)
    assert str(caught.value).startswith(message), str(caught.value)


def test_local_time_is_checked():
    with pytest.raises(ValueError):
        LocalTime(7, 0)
    with pytest.raises(ValueError):
        LocalTime(0, MINUTES_PER_DAY)
    assert LocalTime(6, MINUTES_PER_DAY - 1).minute_of_week == MINUTES_PER_WEEK - 1
