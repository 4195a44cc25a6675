import logging
from pathlib import Path

import pytest

from tests.support.daemon_process import stop_on_sigterm

pytest_plugins = [
    "tests.support.mosquitto_broker",
    "tests.support.plex_server",
    "tests.support.qbittorrent_nox",
    "tests.support.transmission_daemon",
    "tests.support.deluge_daemon",
    "tests.support.nzbget_daemon",
    "tests.support.mosquitto_broker",
]

# configure_logging() (run by the CLI in-process) sets levels and stops propagation: undo it after
# each test, so that later tests' caplog sees what they log whatever ran before them
_LOGGERS = ("plex_helper", "urllib3")


@pytest.fixture(autouse=True)
def _own_state_directory(tmp_path_factory, monkeypatch):
    """Each test's default state directory is its own (daemons it starts inherit it): a throttle
    another test's daemon remembered is never this one's, and the user's own state is never touched."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


@pytest.fixture(autouse=True)
def _logging_as_it_was():
    saved = [(logging.getLogger(n), logging.getLogger(n).handlers[:], logging.getLogger(n).level,
              logging.getLogger(n).propagate) for n in _LOGGERS]
    yield
    for logger, handlers, level, propagate in saved:
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate


# Markers for the quick loop (docs/development.md): `-m "not real_daemons and not browser"` leaves out
# what starts an outside program, so a newcomer's first run needs none installed and ends in a minute.
# Marked here, by the fixtures a test uses and by its module, so no test has to remember a decorator.
REAL_DAEMON_FIXTURES = frozenset({
    "qbt_nox_factory", "qbt_nox_module", "qbt_nox",
    "transmission_factory", "transmission_session", "transmission", "transmission_auth",
    "deluge_factory", "deluge_session", "deluge",
    "nzbget_factory", "nzbget_daemon",
    "snmpd", "snmpd_without_ifxtable",
    "mosquitto",
    "built_pyz",
})
REAL_DAEMON_DIRS = ("tests/e2e/",)
# helpers that run the daemon as a subprocess: a test that calls one, itself or through a function or
# fixture of its own, starts a real daemon
SUBPROCESS_DAEMON_HELPERS = frozenset({("tests.application.daemon", "start"), ("tests.application.daemon", "run"),
                                       ("tests.application.daemon", "command")})
BROWSER_MODULES = frozenset({"tests/e2e/test_dashboard_browser.py"})
SLOW_TESTS = frozenset(line.strip() for line in (Path(__file__).parent / "slow_tests.txt").read_text().splitlines()
                       if line.strip() and not line.startswith("#"))


def _calls_subprocess_daemon(func: object, seen: set) -> bool:
    """Whether `func`, or a function of the test modules it names, names one of the helpers above."""
    code = getattr(func, "__code__", None)
    if code is None or code in seen:
        return False
    seen.add(code)
    names = set(code.co_names)
    for const in code.co_consts:  # nested functions and lambdas
        if hasattr(const, "co_names"):
            names.update(const.co_names)
    found = getattr(func, "__globals__", {})
    for name in names:
        value = found.get(name)
        if (getattr(value, "__module__", None), getattr(value, "__name__", None)) in SUBPROCESS_DAEMON_HELPERS:
            return True
        if getattr(value, "__module__", "").startswith("tests.") and _calls_subprocess_daemon(value, seen):
            return True
    return False


def _starts_subprocess_daemon(item: pytest.Item) -> bool:
    seen: set = set()
    if _calls_subprocess_daemon(getattr(item, "function", None), seen):
        return True
    fixture_defs = getattr(getattr(item, "_fixtureinfo", None), "name2fixturedefs", {})
    return any(_calls_subprocess_daemon(defs[-1].func, seen) for defs in fixture_defs.values() if defs)


def pytest_configure(config: pytest.Config) -> None:
    stop_on_sigterm()  # SIGTERM to pytest stops the daemons the tests started, as Ctrl-C does


def pytest_collection_modifyitems(config: pytest.Config, items: list) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        where = Path(str(item.path)).relative_to(root).as_posix()
        if (REAL_DAEMON_FIXTURES.intersection(getattr(item, "fixturenames", ()))
                or where.startswith(REAL_DAEMON_DIRS)
                or _starts_subprocess_daemon(item)):
            item.add_marker(pytest.mark.real_daemons)
        if where in BROWSER_MODULES:
            item.add_marker(pytest.mark.browser)
        if "%s::%s" % (where, item.originalname if hasattr(item, "originalname") else item.name) in SLOW_TESTS:
            item.add_marker(pytest.mark.slow)
