"""Triggered observations are rate-limited: at most one a second and a few per poll interval, however
many events or webhooks arrive; a single event after a quiet spell still gets its observation within
the debounce, and a trigger that arrives while rate-limited is served as soon as the limit allows.

The loop runs on simulated time: its clock and its wait are injected, and "waiting" advances the
clock to the next scheduled event, so these tests neither sleep nor depend on the machine's speed.
"""
from __future__ import annotations

import heapq
import itertools
import logging
from typing import Callable, List, Tuple

import pytest
from prometheus_client import parser

from application.observers.metrics import MetricsRegistry
from application.observers.reporting import TickLogger
from application.loop.runner import DaemonRunner
from application.loop.wakeup import Wakeup
from application.loop.trigger_limit import TRIGGER_MIN_GAP_SEC, TRIGGERS_PER_INTERVAL
from tests.application.builders import make_service


class SimulatedTime:
    """A clock, and a wait that jumps the clock forward, running what was scheduled on the way."""

    def __init__(self) -> None:
        self.now = 0.0
        self._due: List[Tuple[float, int, Callable[[], None]]] = []
        self._order = itertools.count()
        self._calls = 0

    def clock(self) -> float:
        self._calls += 1
        if self._calls > 1_000_000:  # a loop that never waits: fail instead of spinning for ever
            raise RuntimeError("the run loop spins without waiting")
        return self.now

    def at(self, when: float, action: Callable[[], None]) -> None:
        heapq.heappush(self._due, (when, next(self._order), action))

    def wait(self, event: Wakeup, timeout: float) -> bool:
        if event.is_set():
            return True
        end = self.now + max(0.0, timeout)
        while self._due and self._due[0][0] <= end:
            when, _, action = heapq.heappop(self._due)
            self.now = max(self.now, when)
            action()
            if event.is_set():
                return True
        self.now = end
        return False


class Observations:
    """A tick observer that notes the simulated time of every observation."""

    def __init__(self, time: SimulatedTime) -> None:
        self._time = time
        self.times: List[float] = []

    def report(self, report) -> None:
        self.times.append(self._time.now)


def run_simulated(interval_sec: float, events: List[Tuple[float, str]], until: float, metrics=None):
    """Runs the loop from t=0 to `until` with requests at the given (time, reason); returns the
    observation times and the runner."""
    sim = SimulatedTime()
    service, _, _ = make_service([[]], clock=sim.clock)
    service.min_count_interval_sec = interval_sec / 2  # as the container sets it
    seen = Observations(sim)
    runner = DaemonRunner(service, TickLogger(), interval_sec=interval_sec, observers=[seen],
                          clock=sim.clock, wait=sim.wait, metrics=metrics)
    for when, reason in events:
        sim.at(when, lambda reason=reason: runner.request_observation(reason))
    sim.at(until, runner.request_stop)
    assert runner.run() == 0
    return seen.times, runner


def flood(start: float, end: float, every: float, reason: str = "") -> List[Tuple[float, str]]:
    count = int(round((end - start) / every))
    return [(start + i * every, reason) for i in range(count)]


def gaps(times: List[float]) -> List[float]:
    return [b - a for a, b in zip(times, times[1:])]


def test_a_single_event_after_quiet_is_observed_within_the_debounce():
    times, runner = run_simulated(60, [(30.0, "")], until=40)
    assert times[0] == 0.0
    assert times[1] == pytest.approx(30.0 + runner.debounce_sec)
    assert len(times) == 2


def test_a_burst_within_the_debounce_gives_one_observation():
    times, runner = run_simulated(60, flood(30.0, 30.2, 0.01), until=40)
    assert times[1:] == [pytest.approx(30.0 + runner.debounce_sec)]


@pytest.mark.parametrize("interval", [1, 2, 3.5, 10, 60])
def test_an_event_flood_is_observed_at_most_once_a_second(interval):
    times, _ = run_simulated(interval, flood(5.0, 65.0, 0.002), until=65)
    flood_times = [t for t in times if t >= 5.0]
    assert flood_times, "the flood was never observed"
    assert min(gaps(flood_times)) >= TRIGGER_MIN_GAP_SEC - 1e-9
    # ... and at most TRIGGERS_PER_INTERVAL triggered observations, and the regular poll, in any poll interval
    for i, start in enumerate(flood_times):
        within = [t for t in flood_times[i:] if t < start + interval - 1e-9]
        assert len(within) <= TRIGGERS_PER_INTERVAL + 1, (interval, within)


def test_a_flood_no_longer_polls_every_quarter_second():
    times, _ = run_simulated(10, flood(0.5, 10.5, 10.0 / 6458), until=10.5)  # the issue: 6,458 in 10 s
    assert len(times) <= 1 + TRIGGERS_PER_INTERVAL + 1  # the first poll, the capped triggers, one regular poll


def test_a_trigger_arriving_while_rate_limited_is_served_when_the_limit_allows():
    times, runner = run_simulated(3600, [(10.0, ""), (10.5, "")], until=20)
    first = 10.0 + runner.debounce_sec
    assert times[1:] == [pytest.approx(first), pytest.approx(first + TRIGGER_MIN_GAP_SEC)]


def test_past_the_per_interval_budget_a_trigger_waits_but_is_not_lost():
    events = [(10.0 * i, "") for i in range(1, 6)]  # 10, 20, 30, 40, 50 s: five, well spaced, in 60 s
    times, runner = run_simulated(60, events, until=100)
    debounce = runner.debounce_sec
    assert times[1:5] == [pytest.approx(t + debounce) for t in (10, 20, 30, 40)]
    # the fifth waits until the first of the four is an interval old, before the regular poll
    assert times[5] == pytest.approx(10 + debounce + 60)


def test_a_pending_trigger_is_served_by_a_regular_poll_that_comes_first():
    # four quick triggered observations, too soon to count, leave the poll timer at 60 s; the fifth
    # request may not be served before 1.25 + 60 s, but the regular poll at 60 s comes first
    events = [(float(t), "") for t in (1, 2, 3, 4, 5)]
    times, _ = run_simulated(60, events, until=70)
    assert times == [0.0] + [pytest.approx(t + 0.25) for t in (1, 2, 3, 4)] + [pytest.approx(60.0)]


def test_triggers_are_counted_by_source_and_coalesced_ones_too():
    metrics = MetricsRegistry()
    events = flood(10.0, 10.2, 0.02, "plex webhook media.play") + [(30.0, ""), (50.0, "override")]
    run_simulated(3600, events, until=60, metrics=metrics)
    text = metrics.render()
    found = {(s.name, tuple(sorted(s.labels.items()))): s.value
             for f in parser.text_string_to_metric_families(text) for s in f.samples}
    assert found[("plex_helper_triggers_total", (("source", "webhook"),))] == 10
    assert found[("plex_helper_triggers_total", (("source", "events"),))] == 1
    assert found[("plex_helper_triggers_total", (("source", "override"),))] == 1
    assert found[("plex_helper_triggers_coalesced_total", ())] == 9


def test_triggers_are_logged_at_debug_only(caplog, monkeypatch):
    # configure_logging (run by an earlier test in this process) stops propagation to caplog's handler
    monkeypatch.setattr(logging.getLogger("plex_helper"), "propagate", True)
    caplog.set_level(logging.DEBUG, logger="plex_helper")
    run_simulated(3600, flood(10.0, 12.0, 0.01, "plex webhook media.play"), until=20)
    about_triggers = [r for r in caplog.records if "observ" in r.getMessage() and "request" in r.getMessage()]
    assert about_triggers and all(r.levelno == logging.DEBUG for r in about_triggers)
    assert len(about_triggers) < 20  # a burst joining a pending observation is not logged line by line
