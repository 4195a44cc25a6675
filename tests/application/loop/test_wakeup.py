"""The loop's wake-up: set before, during or from a signal handler inside a wait, it wakes."""
from __future__ import annotations

import os
import signal
import threading
import time

from application.loop.wakeup import Wakeup


def test_a_wait_times_out_unless_set() -> None:
    wakeup = Wakeup()
    assert wakeup.wait(0.01) is False
    wakeup.set()
    assert wakeup.is_set() and wakeup.wait(10) is True  # already set: at once
    wakeup.clear()
    assert not wakeup.is_set() and wakeup.wait(0.01) is False


def test_many_sets_are_one_wake_up_after_clear() -> None:
    wakeup = Wakeup()
    for _ in range(5):
        wakeup.set()
    wakeup.clear()
    assert wakeup.wait(0.01) is False


def test_another_thread_wakes_a_wait() -> None:
    wakeup = Wakeup()
    threading.Timer(0.05, wakeup.set).start()
    started = time.monotonic()
    assert wakeup.wait(10) is True
    assert time.monotonic() - started < 5


def test_a_signal_handler_wakes_the_main_thread_in_a_wait_and_while_it_clears() -> None:
    wakeup = Wakeup()
    previous = signal.signal(signal.SIGUSR1, lambda *_: wakeup.set())
    try:
        threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGUSR1)).start()
        assert wakeup.wait(10) is True
        wakeup.clear()
        # a handler running inside clear() (the case threading.Event could deadlock on) still wakes
        for _ in range(200):
            os.kill(os.getpid(), signal.SIGUSR1)
            wakeup.clear()
        wakeup.set()
        assert wakeup.wait(1) is True
    finally:
        signal.signal(signal.SIGUSR1, previous)
