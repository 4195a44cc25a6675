import logging

from adapters.fakes import RecordingQBittorrent
from application.observers.reporting import TickLogger
from domain.ports import FailureKind
from tests.application.builders import DOWN, REJECTED, REMOTE, make_service


def run_logged(service, n, caplog):
    tick_logger = TickLogger(logging.getLogger("plex_helper.test"))
    caplog.set_level(logging.DEBUG, logger="plex_helper.test")
    for _ in range(n):
        tick_logger.report(service.tick())
    return [(r.levelname, r.getMessage()) for r in caplog.records]


def test_one_warning_per_outage_and_info_on_recovery(caplog):
    service, _, _ = make_service([[], DOWN, DOWN, DOWN, [], DOWN])
    records = run_logged(service, 6, caplog)
    warnings = [m for level, m in records if level == "WARNING"]
    assert warnings == [str(DOWN), str(DOWN)]
    assert ("INFO", "Plex answers again") in records


def test_rejected_token_is_an_error_with_the_fix(caplog):
    service, _, _ = make_service([REJECTED, REJECTED])
    records = run_logged(service, 2, caplog)
    errors = [m for level, m in records if level == "ERROR"]
    assert errors == ["Plex rejected the token (401) at http://plex:32400; check plex_token"]


def test_one_info_per_state_change_and_per_limit(caplog):
    service, _, _ = make_service([[REMOTE], [REMOTE], [], [], []])
    records = run_logged(service, 5, caplog)
    infos = [m for level, m in records if level == "INFO"]
    assert infos == [
        "state unknown -> streaming: 1 remote stream (friend)",
        "upload limit set to 500 KiB/s: 1 remote stream (friend)",
        "state streaming -> idle: no remote streams",
        "upload limit set to unlimited: no remote streams",
    ]
    assert sum(1 for level, _ in records if level == "DEBUG") == 5


def test_qbittorrent_outage_warns_once(caplog):
    limiter = RecordingQBittorrent()
    limiter.fail_with("qBittorrent not reachable at http://qbt:8080: connection refused", FailureKind.UNREACHABLE)
    service, _, _ = make_service([[REMOTE]], limiter=limiter)
    tick_logger = TickLogger(logging.getLogger("plex_helper.test"))
    caplog.set_level(logging.DEBUG, logger="plex_helper.test")
    for _ in range(3):
        tick_logger.report(service.tick())
    limiter.recover()
    tick_logger.report(service.tick())
    levels = [(r.levelname, r.getMessage()) for r in caplog.records if r.levelname != "DEBUG"]
    assert levels[0] == ("INFO", "state unknown -> streaming: 1 remote stream (friend)")
    assert levels[1] == ("WARNING", "qBittorrent not reachable at http://qbt:8080: connection refused")
    assert ("INFO", "qBittorrent answers again") in levels
    assert sum(1 for level, _ in levels if level == "WARNING") == 1
