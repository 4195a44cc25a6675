"""The run loop in a thread: prompt stop, event-triggered observations with debounce."""
import threading
import time

from application.observers.reporting import TickLogger
from application.loop.runner import DaemonRunner
from tests.application.builders import REMOTE, make_service
from tests.support.waiting import wait_until as wait_for


def start_runner(interval_sec, script=([],)):
    service, source, limiter = make_service(list(script))
    runner = DaemonRunner(service, TickLogger(), interval_sec=interval_sec)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    return runner, thread, source


def test_stop_is_prompt_during_a_long_interval():
    runner, thread, source = start_runner(interval_sec=3600)
    assert wait_for(lambda: source.reads == 1)
    started = time.monotonic()
    runner.request_stop()
    thread.join(2)
    assert not thread.is_alive() and time.monotonic() - started < 1


def test_an_event_triggers_an_observation_at_once():
    runner, thread, source = start_runner(interval_sec=3600, script=([], [REMOTE]))
    try:
        assert wait_for(lambda: source.reads == 1)
        sent = time.monotonic()
        runner.request_observation("plex event")
        assert wait_for(lambda: source.reads == 2, timeout=2)
        assert time.monotonic() - sent < 1
    finally:
        runner.request_stop()
        thread.join(2)


def test_a_burst_of_events_gives_one_observation():
    runner, thread, source = start_runner(interval_sec=3600)
    try:
        assert wait_for(lambda: source.reads == 1)
        for _ in range(20):
            runner.request_observation("plex event")
            time.sleep(0.005)
        assert wait_for(lambda: source.reads == 2, timeout=2)
        time.sleep(runner.debounce_sec * 3)
        assert source.reads == 2
    finally:
        runner.request_stop()
        thread.join(2)


def test_the_poll_timer_restarts_from_a_triggered_observation():
    from tests.application.loop.test_trigger_rate import run_simulated

    # simulated time: polls every 10 s; an event at 5 s is observed after the debounce, and the
    # next poll comes a full interval after that observation, not at 10 s
    times, _ = run_simulated(10.0, [(5.0, "plex event")], until=20.0)
    assert times[:3] == [0.0, 5.25, 15.25]


def test_a_reload_during_the_debounce_window_is_not_lost():
    service, source, _ = make_service([[]])
    runner = DaemonRunner(service, TickLogger(), interval_sec=3600)
    reloads = []
    runner.reload_handler = lambda: reloads.append(time.monotonic())
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: source.reads == 1)
        runner.request_observation("plex event")
        time.sleep(runner.debounce_sec / 3)
        runner.request_reload()
        assert wait_for(lambda: reloads, timeout=2)
    finally:
        runner.request_stop()
        thread.join(2)


def test_an_internal_error_in_a_poll_does_not_end_the_loop_and_the_limit_is_restored():
    from tests.application.builders import REMOTE, kib

    service, source, limiter = make_service([[REMOTE]])
    runner = DaemonRunner(service, TickLogger(), interval_sec=0, max_ticks=3)
    real_tick = service.tick
    calls = []

    def flaky_tick(triggered=False):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("a bug")
        return real_tick(triggered)

    service.tick = flaky_tick
    assert runner.run() == 0
    assert len(calls) == 3
    assert kib(limiter.history) == [500, 0]


class RecordingNotifier:
    watchdog_interval_sec = None

    def __init__(self):
        self.sent = []

    def ready(self, status):
        self.sent.append("READY")

    def status(self, status):
        self.sent.append("STATUS")

    def watchdog(self):
        pass

    def reloading(self):
        self.sent.append("RELOADING")

    def stopping(self):
        self.sent.append("STOPPING")


def test_ready_is_sent_even_when_the_first_poll_failed_internally():
    service, _, _ = make_service([[]])
    notifier = RecordingNotifier()
    runner = DaemonRunner(service, TickLogger(), interval_sec=0, max_ticks=3, notifier=notifier)
    real_tick, calls = service.tick, []

    def first_fails(triggered=False):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("a bug")
        return real_tick(triggered)

    service.tick = first_fails
    runner.run()
    assert notifier.sent == ["READY", "STATUS", "STOPPING"]


def test_a_loop_that_only_fails_exits_1_so_systemd_restarts_it():
    service, _, _ = make_service([[]])
    runner = DaemonRunner(service, TickLogger(), interval_sec=0)

    def always_fails(triggered=False):
        raise RuntimeError("a bug")

    service.tick = always_fails
    assert runner.run() == 1


def test_an_uncounted_triggered_observation_keeps_the_poll_timer():
    from tests.application.builders import REMOTE

    service, source, _ = make_service([[]] + [[REMOTE]] * 5, streaming_threshold=2)
    service.min_count_interval_sec = 0.4  # half of the 0.8 s interval
    runner = DaemonRunner(service, TickLogger(), interval_sec=0.8)
    thread = threading.Thread(target=runner.run, daemon=True)
    thread.start()
    try:
        assert wait_for(lambda: source.reads == 1)
        first_poll = time.monotonic()
        runner.request_observation("webhook")  # too soon to count: the timer must not restart
        assert wait_for(lambda: source.reads == 2, timeout=2)
        assert wait_for(lambda: source.reads == 3, timeout=3)
        assert time.monotonic() - first_poll < 1.3  # the regular poll came at ~0.8 s, not ~1.05 s + 0.8 s
    finally:
        runner.request_stop()
        thread.join(2)


def test_a_stop_that_cuts_a_poll_short_after_the_decision_still_logs_what_it_decided_and_wrote(caplog):
    """SIGTERM lands while the second client is being written (the handler raises StopRequested
    there): the state change and the first client's new limit were decided and written, so the log
    says so before the loop ends and the exit restore runs."""
    import logging

    from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
    from adapters.clients.enforcers import GlobalLimitEnforcer
    from application.container import build_decider
    from application.client_slot import ClientSlot
    from application.service import ThrottleService
    from application.loop.stopping import StopRequested
    from tests.application.builders import ManualClock, settings

    class StoppedMidRequest(RecordingQBittorrent):
        def set_upload_limit(self, bytes_per_sec: int) -> None:
            raise StopRequested()

    first = RecordingQBittorrent()
    slots = [ClientSlot("seedbox", GlobalLimitEnforcer(first)), ClientSlot("vpn", GlobalLimitEnforcer(StoppedMidRequest()))]
    service = ThrottleService(ScriptedStreamSource([[REMOTE]]), slots, build_decider(settings()), clock=ManualClock())
    runner = DaemonRunner(service, TickLogger(), interval_sec=3600, restore_on_exit=False)
    with caplog.at_level(logging.INFO, logger="plex_helper"):
        assert runner.run() == 0
    lines = [r.getMessage() for r in caplog.records]
    assert first.history == [250 * 1024]  # half the budget each
    assert any(line.startswith("state unknown -> streaming") for line in lines), lines
    assert any(line.startswith("upload limit of seedbox set to 250 KiB/s") for line in lines), lines
    assert lines.index("stop requested during a poll; abandoning it") > max(
        i for i, line in enumerate(lines) if line.startswith("upload limit of seedbox"))
    assert service.abandoned() is None  # reported once
