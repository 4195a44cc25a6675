"""The line tracker: the measured budget while streaming, the fixed one otherwise, one warning per
fallback, the clients' own rates told apart from other traffic, and the figures it reports."""
from __future__ import annotations

import logging
from typing import Optional

from hypothesis import given, settings as hypothesis_settings
from hypothesis import strategies as st

from application.line_tracker import LineTracker, streams_kib
from application.wiring.line import make_line_tracker
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, DownloadClientError
from domain.sessions import PlaybackSession
from tests.application.builders import ManualClock, settings
from tests.support.scripted_line_meter import ScriptedLineMeter

UP, DOWN = Direction.UPLOAD, Direction.DOWNLOAD
STREAM_200 = PlaybackSession(state="playing", local=False, location="wan", user="friend", player="TV",
                             bandwidth_kbps=1638)  # 200 KiB/s
FIXED = {UP: SpeedLimit(1000), DOWN: None}


class Rates:
    """A client slot's `rates`: what it moves now, or a failure."""

    def __init__(self, up: float = 0, down: Optional[float] = 0) -> None:
        self.up, self.down = up, down

    def current_upload_rate(self) -> SpeedLimit:
        return SpeedLimit(int(self.up))

    def current_download_rate(self) -> SpeedLimit:
        if self.down is None:
            raise DownloadClientError(FailureKind.UNREACHABLE, "client down")
        return SpeedLimit(int(self.down))


class Slot:
    def __init__(self, name: str, rates) -> None:
        self.name, self.rates = name, rates


def tracker(clock, capacities=None, window_sec=30.0, logger=None):
    meter = ScriptedLineMeter(clock)
    made = LineTracker(meter, capacities or {UP: 1000, DOWN: 0}, 0.1, "scripted", clock, window_sec, logger)
    return made, meter


def poll(made, clock, streaming=True, clients=(), remote=(STREAM_200,), fixed=FIXED):
    clock.advance(10)
    return made.budgets(streaming, fixed, remote, list(clients))


def test_other_traffic_lowers_the_budget_by_the_second_poll_and_its_end_lets_it_rise():
    clock = ManualClock()
    made, meter = tracker(clock)
    meter.rates(upload_kib=500)  # the stream's 200 and 300 of other devices
    assert poll(made, clock)[UP] == SpeedLimit(1000)  # the first reading is the baseline: the fixed budget
    assert 395 <= poll(made, clock)[UP].kib_per_sec <= 405
    meter.rates(upload_kib=200)
    after = [poll(made, clock)[UP].kib_per_sec for _ in range(3)]
    assert after[0] > 400 and after[-1] >= 640


def test_the_clients_own_rates_are_not_other_traffic():
    clock = ManualClock()
    made, meter = tracker(clock)
    meter.rates(upload_kib=700)  # the stream's 200, the client's own 500
    clients = [Slot("qbt", Rates(up=500))]
    poll(made, clock, clients=clients)
    assert poll(made, clock, clients=clients)[UP].kib_per_sec >= 695  # 900 - 200: no other traffic


def test_idle_reads_nothing_and_leaves_the_fixed_budgets():
    clock = ManualClock()
    made, meter = tracker(clock)
    assert poll(made, clock, streaming=False) == FIXED
    assert meter.reads == 0 and made.figures().throttling is False


def test_an_unmeasured_direction_keeps_its_fixed_budget():
    clock = ManualClock()
    made, meter = tracker(clock)
    meter.rates(upload_kib=500, download_kib=5000)
    fixed = {UP: SpeedLimit(1000), DOWN: SpeedLimit(777)}
    poll(made, clock, fixed=fixed)
    assert poll(made, clock, fixed=fixed)[DOWN] == SpeedLimit(777)


def test_download_is_measured_with_the_clients_download_rates_and_unknown_ones_as_zero():
    clock = ManualClock()
    made, meter = tracker(clock, {UP: 0, DOWN: 10000})
    meter.rates(download_kib=6000)
    clients = [Slot("qbt", Rates(down=4000)), Slot("tr", Rates(down=None)), Slot("sab", None)]
    poll(made, clock, clients=clients)
    budget = poll(made, clock, clients=clients)[DOWN]
    assert budget == SpeedLimit(7000)  # 9000 - (6000 - 4000 of the client's own)
    figures = made.figures().directions[DOWN]
    assert (figures.measured_kib, figures.clients_kib, figures.other_kib) == (6000, 4000, 2000)


def test_a_failing_meter_falls_back_with_one_warning_and_recovers_with_one_info(caplog):
    clock = ManualClock()
    made, meter = tracker(clock, logger=logging.getLogger("plex_helper"))
    meter.rates(upload_kib=500)
    poll(made, clock)
    poll(made, clock)
    meter.fail("the router at 192.168.1.1 did not answer")
    with caplog.at_level(logging.INFO, logger="plex_helper"):
        budgets = [poll(made, clock)[UP] for _ in range(3)]
        figures = made.figures()
        meter.fail(None)
        poll(made, clock)
        poll(made, clock)
    assert budgets == [SpeedLimit(1000)] * 3
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    infos = [r for r in caplog.records if r.levelno == logging.INFO]
    assert len(warnings) == 1 and "did not answer" in warnings[0].getMessage()
    assert len(infos) == 1 and "reads again" in infos[0].getMessage()
    health = figures.as_health()
    assert health["failure"] == "the router at 192.168.1.1 did not answer"
    assert health["upload"]["fallback"] and health["upload"]["budget_kib"] == 1000
    assert made.figures().failure is None


def test_nonsense_falls_back_too(caplog):
    clock = ManualClock()
    made, meter = tracker(clock)
    meter.rates(upload_kib=5000)  # 5 x the capacity: a wrong capacity or a garbled counter
    with caplog.at_level(logging.WARNING, logger="plex_helper"):
        poll(made, clock)
        assert poll(made, clock)[UP] == SpeedLimit(1000)
    assert "more than 1.5 x the line's capacity" in caplog.text


def test_figures_render_as_metrics():
    clock = ManualClock()
    made, meter = tracker(clock)
    meter.rates(upload_kib=500)
    poll(made, clock)
    poll(made, clock)
    text = made.figures().metric_lines()
    assert 'plex_helper_line_measured_bytes_per_second{direction="upload"} %d' % (500 * 1024) in text
    assert 'plex_helper_line_capacity_bytes_per_second{direction="upload"} %d' % (1000 * 1024) in text
    assert 'plex_helper_line_fallback{direction="upload"} 0' in text
    assert 'direction="download"' not in text  # not measured


@hypothesis_settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(0, 1400), st.booleans()), min_size=1, max_size=12),
       st.integers(1, 5000))
def test_never_above_the_fixed_budget_nor_the_capacity_whatever_the_line_does(steps, fixed_kib):
    clock = ManualClock()
    made, meter = tracker(clock)
    for rate, failing in steps:
        meter.rates(upload_kib=rate)
        meter.fail("down" if failing else None)
        budget = poll(made, clock, fixed={UP: SpeedLimit(fixed_kib), DOWN: None})[UP]
        assert 1 <= budget.kib_per_sec <= min(fixed_kib, 1000)


def test_streams_are_counted_by_their_bandwidth():
    assert round(streams_kib([STREAM_200, STREAM_200]), 1) == 399.9


def test_no_tracker_without_a_meter_and_one_with():
    assert make_line_tracker(settings()) is None
    from application.config.settings import LineMeterSettings

    made = make_line_tracker(settings(line_upload_kbps=1000, line_meter=LineMeterSettings("host", interface="lo")))
    assert made.measured == frozenset({UP}) and made.label == "host lo"


def test_the_meter_is_asked_only_for_the_measured_directions():
    from application.config.settings import LineMeterSettings

    upnp = LineMeterSettings("upnp", url="http://127.0.0.1:9/igddesc.xml")  # nothing is read here
    made = make_line_tracker(settings(line_upload_kbps=1000, line_meter=upnp))
    assert made.meter.directions == frozenset({UP})
    made = make_line_tracker(settings(line_upload_kbps=1000, line_download_kbps=5000, line_meter=upnp))
    assert made.meter.directions == frozenset({UP, DOWN})
    made.close()


@hypothesis_settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(0, 1400), min_size=2, max_size=10))
def test_an_unread_direction_left_at_0_is_never_a_failure(rates):
    clock = ManualClock()
    made, meter = tracker(clock)  # download is not measured: the meter's download counter stays 0
    for rate in rates:
        meter.rates(upload_kib=rate)
        poll(made, clock)
        figures = made.figures()
        assert figures.failure is None and figures.directions[UP].fallback is None
        assert set(figures.directions) == {UP}
