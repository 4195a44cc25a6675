import logging

import pytest

pytest_plugins = [
    "tests.support.mosquitto_broker",
    "tests.support.plex_server",
    "tests.support.qbittorrent_nox",
    "tests.support.transmission_daemon",
    "tests.support.deluge_daemon",
    "tests.support.nzbget_daemon",
]

# configure_logging() (run by the CLI in-process) sets levels and stops propagation: undo it after
# each test, so that later tests' caplog sees what they log whatever ran before them
_LOGGERS = ("plex_helper", "urllib3")


@pytest.fixture(autouse=True)
def _logging_as_it_was():
    saved = [(logging.getLogger(n), logging.getLogger(n).handlers[:], logging.getLogger(n).level,
              logging.getLogger(n).propagate) for n in _LOGGERS]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate
