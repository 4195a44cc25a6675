"""The restore at shutdown has a hard deadline: a qBittorrent that hangs or trickles cannot keep
plex-helper from exiting, and the log says (ERROR) what could not be restored. A second stop signal
during the restore stops the wait without a traceback."""
from __future__ import annotations

import logging
import os
import signal
import threading
import time

import pytest

from application.observers.reporting import TickLogger
from application.loop.runner import DaemonRunner
from domain.policies import SpeedLimit
from domain.ports import FailureKind, DownloadClientError


class _Policy:
    idle_limit = SpeedLimit(0)


class _Decider:
    policy = _Policy()


class HangingService:
    """A service whose restore blocks until released, as with a qBittorrent that never answers."""

    decider = _Decider()

    def __init__(self, restore=None) -> None:
        self.release = threading.Event()
        self.restore_started = threading.Event()
        self._restore = restore

    def restore_idle_limit(self):
        self.restore_started.set()
        if self._restore is not None:
            return self._restore()
        self.release.wait(30)
        return "upload limit restored to unlimited"


def stop_in_thread(runner: DaemonRunner):
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("code", runner.shutdown()), daemon=True)
    thread.start()
    return thread, result


def errors(caplog):
    return [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_a_restore_that_hangs_is_abandoned_at_the_deadline(caplog):
    service = HangingService()
    runner = DaemonRunner(service, TickLogger(), interval_sec=10, restore_deadline_sec=0.3)
    try:
        thread, result = stop_in_thread(runner)
        thread.join(5)  # a bound for a hang, not a measure of speed
        assert not thread.is_alive(), "shutdown waited for a restore that never ends"
        assert result["code"] == 0
        [error] = errors(caplog)
        message = error.getMessage()
        assert "not restored" in message and "unlimited" in message and "0.3 s" in message
        assert not error.exc_info
    finally:
        service.release.set()


def test_a_restore_within_the_deadline_is_reported_as_before(caplog):
    caplog.set_level(logging.INFO)
    service = HangingService(restore=lambda: "upload limit restored to unlimited")
    runner = DaemonRunner(service, TickLogger(), interval_sec=10, restore_deadline_sec=5)
    assert runner.shutdown() == 0
    assert "stopping; upload limit restored to unlimited" in caplog.text
    assert not errors(caplog)


def test_a_restore_that_fails_is_an_error_naming_the_problem(caplog):
    def refuse():
        raise DownloadClientError(FailureKind.UNREACHABLE, "qBittorrent not reachable at http://qbt:8080")

    runner = DaemonRunner(HangingService(restore=refuse), TickLogger(), interval_sec=10, restore_deadline_sec=5)
    assert runner.shutdown() == 0
    [error] = errors(caplog)
    assert "qBittorrent not reachable" in error.getMessage() and not error.exc_info


def test_no_restore_without_restore_on_exit(caplog):
    service = HangingService()
    runner = DaemonRunner(service, TickLogger(), interval_sec=10, restore_on_exit=False, restore_deadline_sec=0.1)
    assert runner.shutdown() == 0
    assert not service.restore_started.is_set()


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_a_second_stop_signal_during_the_restore_stops_the_wait_without_a_traceback(caplog, signum):
    service = HangingService()
    runner = DaemonRunner(service, TickLogger(), interval_sec=10, restore_deadline_sec=20)
    saved = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        runner.install_signal_handlers()
        runner._on_stop_signal(signum, None)  # the first stop signal, as the loop saw it

        def second_signal():
            if service.restore_started.wait(5):
                os.kill(os.getpid(), signum)

        sender = threading.Thread(target=second_signal, daemon=True)
        sender.start()
        started = time.monotonic()
        assert runner.shutdown() == 0  # in the main thread, where the signal handler runs; nothing escapes
        assert time.monotonic() - started < 10  # not the 20 s deadline
        sender.join(5)
        [error] = errors(caplog)
        assert "not restored" in error.getMessage() and not error.exc_info
        assert not [r for r in caplog.records if r.exc_info]
    finally:
        service.release.set()
        for s, handler in saved.items():
            signal.signal(s, handler)


@pytest.mark.skipif(threading.current_thread() is not threading.main_thread(), reason="signals need the main thread")
def test_a_stop_signal_after_the_restore_is_harmless(caplog):
    caplog.set_level(logging.INFO)
    service = HangingService(restore=lambda: None)
    runner = DaemonRunner(service, TickLogger(), interval_sec=10, restore_deadline_sec=5)
    saved = signal.getsignal(signal.SIGTERM)
    try:
        runner.install_signal_handlers()
        runner.request_stop()
        assert runner.shutdown() == 0
        os.kill(os.getpid(), signal.SIGTERM)  # the handler must not raise outside a tick or a restore
        time.sleep(0.05)
    finally:
        signal.signal(signal.SIGTERM, saved)
    assert not errors(caplog)
