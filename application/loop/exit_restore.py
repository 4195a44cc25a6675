"""Putting the idle upload limit back as the daemon stops, within a deadline.

The restore runs in a daemon thread and the stopping thread waits for it at most the deadline (one
request's timeout and a little), or until a second SIGTERM/SIGINT: a download client that does not
answer must not keep the daemon from exiting. What happened is logged, so a limit left throttled is
never a surprise.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Dict

from application.service import ThrottleService
from application.loop.stopping import StopRequested
from domain.ports import DownloadClientError

DEFAULT_RESTORE_DEADLINE_SEC = 10.5  # http_timeout_sec's default + 0.5 s


class ExitRestore:
    """The restore on the way out, for one run loop. `running` and `interrupted` are read by its
    stop-signal handler (through `interrupt()`), on the thread that waits here."""

    def __init__(self, logger: logging.Logger) -> None:
        self._logger = logger
        self.running = False
        self.interrupted = False

    def interrupt(self) -> bool:
        """A further stop request: True (once) when a restore is being waited for and the wait should
        end now (the signal handler then raises StopRequested into the waiting thread)."""
        if self.running and not self.interrupted:
            self.interrupted = True
            return True
        return False

    def restore(self, service: ThrottleService, deadline_sec: float) -> int:
        """Restore the idle limit and log the outcome; the exit code (0: a failed restore is logged,
        not an error). A bug in the restore is raised for the run loop to report."""
        outcome = self._restore_within_deadline(service, deadline_sec)
        if "restored" not in outcome:
            error = outcome.get("error")
            if isinstance(error, DownloadClientError):
                self._logger.error("stopping, but could not restore the idle upload limit: %s", error)
            elif error is not None:  # a bug: let run() report it
                raise error
            else:
                why = ("stop requested again" if self.interrupted
                       else "the download client did not answer within %g s" % deadline_sec)
                self._logger.error("stopping, but the upload limit was not restored to %s (%s); it may still be "
                                   "throttled until plex-helper runs again", _idle_limit_text(service), why)
            return 0
        restored = outcome["restored"]
        if restored is not None:
            self._logger.info("stopping; %s", restored)
        else:
            self._logger.info("stopping")
        return 0

    def _restore_within_deadline(self, service: ThrottleService, deadline_sec: float) -> Dict[str, Any]:
        """Runs the restore in a daemon thread and waits at most `deadline_sec` (or until a second
        stop signal): {"restored": ...}, {"error": ...}, or {} when it did not finish."""
        outcome: Dict[str, Any] = {}

        def restore() -> None:
            try:
                outcome["restored"] = service.restore_idle_limit()
            except BaseException as err:  # noqa: BLE001 - handed to the waiting thread
                outcome["error"] = err

        worker = threading.Thread(target=restore, name="plex-helper-restore", daemon=True)
        try:
            try:
                self.running = True
                worker.start()
                deadline = time.monotonic() + deadline_sec  # real time: it waits on a real thread
                while worker.is_alive() and time.monotonic() < deadline:
                    # in slices: a signal that lands on another thread is handled here at the next one
                    worker.join(min(0.1, max(0.0, deadline - time.monotonic())))
            finally:
                self.running = False
        except StopRequested:  # a second SIGTERM/SIGINT: the user wants out now
            self.interrupted = True
        return dict(outcome) if not worker.is_alive() else {}


def _idle_limit_text(service: ThrottleService) -> str:
    try:
        return str(service.decider.policy.idle_limit)
    except AttributeError:
        return "the idle limit"
