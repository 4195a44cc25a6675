"""The run loop: tick, report, sleep on an event so a signal stops it within a second.

Observations triggered by Plex events, webhooks or an override are debounced and rate-limited
(at most one a second, and TRIGGERS_PER_INTERVAL per poll interval), so a flood of events cannot
turn into a flood of requests to Plex; a trigger that has to wait is served as soon as it may be.
That limit is application/loop/trigger_limit.py; the restore of the idle limit on the way out, within
a deadline, is application/loop/exit_restore.py.
"""
from __future__ import annotations

import logging
import math
import signal
import threading
import time
from typing import Callable, List, Optional, Sequence

from application.loop.exit_restore import DEFAULT_RESTORE_DEADLINE_SEC, ExitRestore
from application.observers.reporting import TickLogger
from application.service import ThrottleService
from application.loop.stopping import StopRequested
from application.loop.trigger_limit import TriggerLimit
from application.loop.wakeup import Wakeup
from domain.ports import LifecycleNotifier, TickObserver, TriggerCounter
from domain.tick_report import TickReport

ReloadHandler = Callable[[], None]
Waiter = Callable[[Wakeup, float], bool]  # waits on the wake-up for at most the timeout
MAX_INTERNAL_ERRORS_IN_A_ROW = 10


def _wait_on(wakeup: Wakeup, timeout: float) -> bool:
    return wakeup.wait(timeout)


class SilentNotifier:
    watchdog_interval_sec: Optional[float] = None

    def ready(self, status: str) -> None:
        pass

    status = ready

    def watchdog(self) -> None:
        pass

    reloading = stopping = watchdog


def status_line(report: TickReport) -> str:
    state = report.after.state.value if report.after.state else "starting"
    if report.source_error is not None:
        state += ", Plex unreadable"
    limit = report.desired if report.desired is not None else "unchanged"
    count = len(report.remote_sessions)
    return "%s: %d remote stream%s, upload limit %s" % (state, count, "" if count == 1 else "s", limit)


class DaemonRunner:
    def __init__(
        self,
        service: ThrottleService,
        tick_logger: TickLogger,
        interval_sec: float,
        restore_on_exit: bool = True,
        logger: Optional[logging.Logger] = None,
        max_ticks: Optional[int] = None,
        notifier: Optional[LifecycleNotifier] = None,
        observers: Sequence[TickObserver] = (),
        clock: Callable[[], float] = time.monotonic,
        wait: Waiter = _wait_on,
        restore_deadline_sec: float = DEFAULT_RESTORE_DEADLINE_SEC,
        metrics: Optional[TriggerCounter] = None,
    ) -> None:
        self.service = service
        self.tick_logger = tick_logger
        self.interval_sec = interval_sec
        self.restore_on_exit = restore_on_exit
        self.max_ticks = max_ticks
        self.notifier: LifecycleNotifier = notifier or SilentNotifier()
        self.observers: List[TickObserver] = list(observers)
        self.reload_handler: Optional[ReloadHandler] = None
        self.restore_deadline_sec = restore_deadline_sec
        self._clock = clock
        self._wait_for = wait
        self._wake = Wakeup()
        self._stopping = False
        self._reload_requested = False
        self._in_tick = False
        self._ready_sent = False
        self._internal_errors = 0
        self._last_poll = clock()
        self._last_watchdog = -math.inf
        self._logger = logger or logging.getLogger("plex_helper")
        self._triggers = TriggerLimit(clock, self._logger, metrics)
        self._exit_restore = ExitRestore(self._logger)
        self.ticks = 0

    @property
    def stopping(self) -> bool:
        return self._stopping

    @property
    def debounce_sec(self) -> float:
        """A burst of requests within this many seconds gives one observation."""
        return self._triggers.debounce_sec

    @debounce_sec.setter
    def debounce_sec(self, value: float) -> None:
        self._triggers.debounce_sec = value

    def run_once(self, triggered: bool = False) -> TickReport:
        self._in_tick = True
        try:
            report = self.service.tick(triggered=triggered)
        finally:
            self._in_tick = False
        self.tick_logger.report(report)
        for observer in self.observers:
            try:
                observer.report(report)
            except Exception:  # an optional extra must never stop the loop
                self._logger.exception("internal error in %s; carrying on", type(observer).__name__)
        self.ticks += 1
        if not self._ready_sent:  # after the first tick that got this far, even if an earlier one failed
            self._ready_sent = True
            self.notifier.ready(status_line(report))
        else:
            self.notifier.status(status_line(report))
        self._watchdog()
        return report

    def _report_abandoned(self) -> None:
        """Logs what the abandoned poll had decided and written: no state change or limit goes
        unlogged. Only the log: the observers (notifications among them) may block, and the stop
        must stay prompt; the exit restore reports what it puts back."""
        abandoned = getattr(self.service, "abandoned", None)
        try:
            report = abandoned() if abandoned is not None else None
            if report is not None:
                self.tick_logger.report(report)
        except Exception:  # the stop goes on whatever this says
            self._logger.exception("internal error while reporting the abandoned poll")

    def request_stop(self, *_: object) -> None:
        self._stopping = True
        self._wake.set()

    def _on_stop_signal(self, *_: object) -> None:
        already = self._stopping
        self.request_stop()
        if already and self._exit_restore.interrupt():  # asked again during the restore: stop waiting
            raise StopRequested()
        if self._in_tick and not already:
            raise StopRequested()

    def request_reload(self, *_: object) -> None:
        self._reload_requested = True
        self._wake.set()

    def request_observation(self, reason: str = "") -> None:
        """Observe soon instead of at the end of the interval (a Plex event, a webhook, an override).
        Thread-safe and quick. A burst within `debounce_sec` gives one observation, and requests
        while one is pending join it; see the module docstring for the rate limit."""
        self._triggers.request(reason)
        self._wake.set()

    def install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self._on_stop_signal)
        signal.signal(signal.SIGINT, self._on_stop_signal)
        if self.reload_handler is not None:
            signal.signal(signal.SIGHUP, self.request_reload)

    def run(self) -> int:
        self.install_signal_handlers()
        servers = [server.name for server in getattr(self.service, "servers", ())]
        what = "Plex" if servers in ([], ["plex"]) else "the media servers (%s)" % ", ".join(servers)
        self._logger.info("plex-helper running: polling %s every %g s", what, self.interval_sec)
        code = 0
        triggered = False
        try:
            while not self._stopping:
                try:
                    report = self.run_once(triggered)
                    self._internal_errors = 0
                    if report.counted:  # the poll timer restarts from a counted observation only
                        self._last_poll = self._clock()
                except StopRequested:
                    self._report_abandoned()
                    self._logger.info("stop requested during a poll; abandoning it")
                    break
                except Exception:  # a bug must not end months of unattended running...
                    self._logger.exception("internal error during a poll; carrying on")
                    self.ticks += 1
                    self._internal_errors += 1
                    self._last_poll = self._clock()
                    if self._internal_errors >= MAX_INTERNAL_ERRORS_IN_A_ROW:
                        # ...but a loop that only fails should end, so that systemd restarts it
                        self._logger.error("%d internal errors in a row; exiting", self._internal_errors)
                        code = 1
                        break
                if self.max_ticks is not None and self.ticks >= self.max_ticks:
                    break
                triggered = self._sleep()
        finally:
            try:
                shutdown_code = self.shutdown()  # also when something unexpected escapes: never leave it throttled
            except Exception:
                self._logger.exception("internal error while stopping")
                shutdown_code = 1
        return code or shutdown_code

    def _sleep(self) -> bool:
        """Sleeps until a poll interval after the last counted observation, pinging the watchdog on
        the way; True when a requested observation is due before that. A reload does not cut the
        wait short, but a new interval applies at once.

        The flags are read after every wake-up, so a request that arrives while the event is being
        cleared is never lost."""
        while not self._stopping:
            if self._reload_requested:
                self._reload()
            now = self._clock()
            poll_at = self._last_poll + self.interval_sec
            wake_at = poll_at
            if self._triggers.pending:
                trigger_at = self._triggers.due_at(self.interval_sec)
                if trigger_at <= now:
                    self._triggers.serve(now, by_poll=False)
                    return True
                if poll_at <= now:  # the regular poll comes first: it serves the request
                    self._triggers.serve(now, by_poll=True)
                    return False
                wake_at = min(poll_at, trigger_at)
            elif poll_at <= now:
                return False
            slice_sec = wake_at - now
            if self.notifier.watchdog_interval_sec:
                slice_sec = min(slice_sec, self.notifier.watchdog_interval_sec / 2)
            woken = self._wait_for(self._wake, slice_sec)
            self._wake.clear()
            # a ping after every wake-up, but not one per event of a flood
            self._watchdog(min_gap_sec=1.0 if woken and self._triggers.pending else 0.0)
        return False

    def _watchdog(self, min_gap_sec: float = 0.0) -> None:
        now = self._clock()
        if now - self._last_watchdog >= min_gap_sec:
            self._last_watchdog = now
            self.notifier.watchdog()

    def _reload(self) -> None:
        self._reload_requested = False
        if self.reload_handler is None:
            return
        self.notifier.reloading()
        try:
            self.reload_handler()
        except Exception:  # keep running on the old config
            self._logger.exception("internal error while reloading the config; keeping the running config")
        self.notifier.ready("configuration reloaded")

    def shutdown(self) -> int:
        self.notifier.stopping()
        if not self.restore_on_exit:
            self._logger.info("stopping; leaving the upload limit as it is (restore_on_exit is false)")
            return 0
        return self._exit_restore.restore(self.service, self.restore_deadline_sec)

