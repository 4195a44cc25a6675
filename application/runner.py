"""The run loop: tick, report, sleep on an event so a signal stops it within a second."""
from __future__ import annotations

import logging
import signal
import threading
from typing import Callable, Optional

from application.reporting import TickLogger
from application.service import ThrottleService, TickReport
from domain.ports import UploadLimiterError

ReloadHandler = Callable[[], None]


class DaemonRunner:
    def __init__(
        self,
        service: ThrottleService,
        tick_logger: TickLogger,
        interval_sec: float,
        restore_on_exit: bool = True,
        logger: Optional[logging.Logger] = None,
        max_ticks: Optional[int] = None,
    ) -> None:
        self.service = service
        self.tick_logger = tick_logger
        self.interval_sec = interval_sec
        self.restore_on_exit = restore_on_exit
        self.max_ticks = max_ticks
        self.reload_handler: Optional[ReloadHandler] = None
        self._wake = threading.Event()
        self._stopping = False
        self._reload_requested = False
        self._logger = logger or logging.getLogger("plex_helper")
        self.ticks = 0

    @property
    def stopping(self) -> bool:
        return self._stopping

    def run_once(self) -> TickReport:
        report = self.service.tick()
        self.tick_logger.report(report)
        self.ticks += 1
        return report

    def request_stop(self, *_: object) -> None:
        self._stopping = True
        self._wake.set()

    def request_reload(self, *_: object) -> None:
        self._reload_requested = True
        self._wake.set()

    def install_signal_handlers(self) -> None:
        if threading.current_thread() is not threading.main_thread():
            return
        signal.signal(signal.SIGTERM, self.request_stop)
        signal.signal(signal.SIGINT, self.request_stop)
        if self.reload_handler is not None:
            signal.signal(signal.SIGHUP, self.request_reload)

    def run(self) -> int:
        self.install_signal_handlers()
        self._logger.info("plex-helper running: polling Plex every %g s", self.interval_sec)
        while not self._stopping:
            self.run_once()
            if self.max_ticks is not None and self.ticks >= self.max_ticks:
                break
            self._sleep()
        return self.shutdown()

    def _sleep(self) -> None:
        """Sleeps one interval; a reload request is handled without cutting the interval short."""
        while not self._stopping:
            woke = self._wake.wait(self.interval_sec)
            self._wake.clear()
            if not woke or not self._reload_requested:
                return
            self._reload_requested = False
            if self.reload_handler is not None:
                self.reload_handler()

    def shutdown(self) -> int:
        if not self.restore_on_exit:
            self._logger.info("stopping; leaving the upload limit as it is (restore_on_exit is false)")
            return 0
        try:
            restored = self.service.restore_idle_limit()
        except UploadLimiterError as err:
            self._logger.error("stopping, but could not restore the idle upload limit: %s", err)
            return 0
        if restored is not None:
            self._logger.info("stopping; upload limit restored to %s", restored)
        else:
            self._logger.info("stopping")
        return 0
