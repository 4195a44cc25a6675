"""The daemon as the container assembles it: the run loop, the observers of its polls, the
background companions started and stopped around it, and the reload of the config on SIGHUP."""
from __future__ import annotations

import logging
from typing import Any, Callable, Optional, Protocol, Sequence

from application.loop.runner import DaemonRunner
from domain.ports import TickObserver, UserFacingError

EXIT_CONFIG = 2


class Companion(Protocol):
    """A background part (status server, push listener, notification queue, history writer)."""

    def start(self) -> Any: ...
    def stop(self) -> None: ...


class Daemon:
    def __init__(
        self,
        runner: DaemonRunner,
        observers: Sequence[TickObserver] = (),
        companions: Sequence[Companion] = (),
        reload_handler: Optional[Callable[[], Any]] = None,
        on_start: Sequence[Callable[[], None]] = (),
        logger: Optional[logging.Logger] = None,
    ) -> None:
        self.runner = runner
        self.companions = list(companions)
        self._on_start = list(on_start)
        self._logger = logger or logging.getLogger("plex_helper")
        # the status view observes the runner it also controls: the one cycle, closed here
        runner.observers.extend(observers)
        runner.reload_handler = reload_handler

    def run(self) -> int:
        """Start the companions, run the loop until a stop signal, stop them in reverse order."""
        started = []
        try:
            for action in self._on_start:
                action()
            for companion in self.companions:
                companion.start()
                started.append(companion)
            return self.runner.run()
        except UserFacingError as err:  # e.g. the status server's address is taken
            self._logger.error("%s", err)
            return EXIT_CONFIG
        finally:
            for companion in reversed(started):
                companion.stop()
            line = getattr(self.runner.service, "line", None)
            if line is not None:  # the line meter's connection or SNMP session
                line.close()
