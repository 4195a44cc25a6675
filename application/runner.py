"""The run loop: tick, report, sleep on an event so a signal stops it within a second."""
from __future__ import annotations

import logging
import signal
import threading
import time
from typing import Callable, List, Optional, Protocol, Sequence

from application.reporting import TickLogger
from application.service import ThrottleService, TickReport
from application.stopping import StopRequested
from domain.ports import UploadLimiterError

ReloadHandler = Callable[[], None]
MAX_INTERNAL_ERRORS_IN_A_ROW = 10


class TickObserver(Protocol):
    def report(self, report: TickReport) -> None: ...


class LifecycleNotifier(Protocol):
    """What the loop tells a service manager (systemd's sd_notify, or nothing)."""

    watchdog_interval_sec: Optional[float]

    def ready(self, status: str) -> None: ...
    def status(self, status: str) -> None: ...
    def watchdog(self) -> None: ...
    def reloading(self) -> None: ...
    def stopping(self) -> None: ...


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
    ) -> None:
        self.service = service
        self.tick_logger = tick_logger
        self.interval_sec = interval_sec
        self.restore_on_exit = restore_on_exit
        self.max_ticks = max_ticks
        self.notifier: LifecycleNotifier = notifier or SilentNotifier()
        self.observers: List[TickObserver] = list(observers)
        self.reload_handler: Optional[ReloadHandler] = None
        self._wake = threading.Event()
        self._stopping = False
        self._reload_requested = False
        self._observe_requested = False
        self._in_tick = False
        self._ready_sent = False
        self._internal_errors = 0
        self._last_poll = time.monotonic()
        self.debounce_sec = 0.25
        self._logger = logger or logging.getLogger("plex_helper")
        self.ticks = 0

    @property
    def stopping(self) -> bool:
        return self._stopping

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
        self.notifier.watchdog()
        return report

    def request_stop(self, *_: object) -> None:
        self._stopping = True
        self._wake.set()

    def _on_stop_signal(self, *_: object) -> None:
        already = self._stopping
        self.request_stop()
        if self._in_tick and not already:
            raise StopRequested()

    def request_reload(self, *_: object) -> None:
        self._reload_requested = True
        self._wake.set()

    def request_observation(self, reason: str = "") -> None:
        """Observe now instead of at the end of the interval (a Plex event or webhook). Thread-safe;
        a burst of requests within `debounce_sec` gives one observation."""
        self._observe_requested = True
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
        self._logger.info("plex-helper running: polling Plex every %g s", self.interval_sec)
        code = 0
        triggered = False
        try:
            while not self._stopping:
                try:
                    report = self.run_once(triggered)
                    self._internal_errors = 0
                    if report.counted:  # the poll timer restarts from a counted observation only
                        self._last_poll = time.monotonic()
                except StopRequested:
                    self._logger.info("stop requested during a poll; abandoning it")
                    break
                except Exception:  # a bug must not end months of unattended running...
                    self._logger.exception("internal error during a poll; carrying on")
                    self.ticks += 1
                    self._internal_errors += 1
                    self._last_poll = time.monotonic()
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
        the way; True when an observation was requested before that. A reload does not cut the
        wait short, but a new interval applies at once.

        The flags are read after every wake-up, so a request that arrives while the event is being
        cleared is never lost."""
        while not self._stopping:
            if self._reload_requested:
                self._reload()
            if self._observe_requested:
                self._absorb_burst()
                if self._reload_requested:
                    self._reload()
                return True
            remaining = self._last_poll + self.interval_sec - time.monotonic()
            if remaining <= 0:
                return False
            slice_sec = remaining
            if self.notifier.watchdog_interval_sec:
                slice_sec = min(remaining, self.notifier.watchdog_interval_sec / 2)
            self._wake.wait(slice_sec)
            self._wake.clear()
            self.notifier.watchdog()
        return False

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

    def _absorb_burst(self) -> None:
        """Waits `debounce_sec` so that the rest of a burst of events leads to the same observation."""
        end = time.monotonic() + self.debounce_sec
        while not self._stopping and not self._reload_requested and time.monotonic() < end:
            self._wake.wait(max(0.0, end - time.monotonic()))
            self._wake.clear()
        self._observe_requested = False

    def shutdown(self) -> int:
        self.notifier.stopping()
        if not self.restore_on_exit:
            self._logger.info("stopping; leaving the upload limit as it is (restore_on_exit is false)")
            return 0
        try:
            restored = self.service.restore_idle_limit()
        except UploadLimiterError as err:
            self._logger.error("stopping, but could not restore the idle upload limit: %s", err)
            return 0
        if restored is not None:
            self._logger.info("stopping; %s", restored)
        else:
            self._logger.info("stopping")
        return 0
