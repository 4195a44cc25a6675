"""Issue #11: the log says why it throttles (an override, not "no remote streams"), and --verbose says,
per poll, why each session counted or was left out."""
import ipaddress
import json
import logging
import time
import urllib.request

import pytest

from application.observers.reporting import TickLogger
from domain.overrides import Override
from domain.sessions import PlaybackSession
from domain.state import StreamState
from tests.application.builders import LAN, REMOTE, make_service

LOGGER = "plex_helper.test"


def messages(caplog, level=None):
    return [r.getMessage() for r in caplog.records if level is None or r.levelname == level]


def announcements(caplog):
    """INFO and above: the status server's DEBUG access lines are not announcements."""
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO]


def clock_time(until: float) -> str:
    return time.strftime("%H:%M", time.localtime(until))


# ------------------------------------------------------------------------------------------ override


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_throttle_forced_by_an_override_is_logged_as_the_override(caplog, dry_run):
    service, _, _ = make_service([[], []], dry_run=dry_run)
    until = time.time() + 3600
    service.set_override(Override(StreamState.STREAMING, until))
    tick_logger = TickLogger(logging.getLogger(LOGGER))
    caplog.set_level(logging.INFO, logger=LOGGER)
    tick_logger.report(service.tick())
    limit_lines = [m for m in messages(caplog, "INFO") if "upload limit" in m]
    why = "override streaming until %s" % clock_time(until)
    if dry_run:
        assert limit_lines == ["dry run: would set the upload limit to 500 KiB/s: %s" % why]
    else:
        assert limit_lines == ["upload limit set to 500 KiB/s: %s" % why]
    assert not any("no remote streams" in m for m in limit_lines)


def test_an_override_idle_during_remote_streams_says_so(caplog):
    service, _, _ = make_service([[REMOTE], [REMOTE]])
    until = time.time() + 600
    tick_logger = TickLogger(logging.getLogger(LOGGER))
    caplog.set_level(logging.INFO, logger=LOGGER)
    tick_logger.report(service.tick())  # streaming: 500 KiB/s
    service.set_override(Override(StreamState.IDLE, until))
    tick_logger.report(service.tick())
    assert messages(caplog, "INFO")[-1] == "upload limit set to unlimited: override idle until %s" % clock_time(until)


def test_an_override_more_than_a_day_away_names_the_day():
    from application.observers.reporting import describe_override

    now = time.mktime((2025, 6, 14, 20, 0, 0, 0, 0, -1))
    soon = Override(StreamState.STREAMING, now + 90 * 60)
    later = Override(StreamState.IDLE, now + 3 * 86400)
    assert describe_override(soon, now) == "override streaming until 21:30"
    assert describe_override(later, now) == "override idle until 2025-06-17 20:00"


def test_without_an_override_the_limit_line_names_the_streams(caplog):
    service, _, _ = make_service([[REMOTE]])
    caplog.set_level(logging.INFO, logger=LOGGER)
    TickLogger(logging.getLogger(LOGGER)).report(service.tick())
    assert "upload limit set to 500 KiB/s: 1 remote stream (friend)" in messages(caplog, "INFO")


def test_an_override_set_through_the_status_server_is_logged_once(tmp_path, caplog):
    from adapters.status.server import StatusHttpServer
    from application.observers.metrics import MetricsRegistry
    from application.loop.runner import DaemonRunner
    from adapters.system.state_files import OverrideStore
    from application.observers.status import DaemonStatus

    service, _, _ = make_service([[]])
    runner = DaemonRunner(service, TickLogger(), interval_sec=3600)
    status = DaemonStatus(runner, MetricsRegistry(version="test", build="test"), OverrideStore(str(tmp_path)))
    server = StatusHttpServer("127.0.0.1:0", status).start()
    caplog.set_level(logging.DEBUG, logger="plex_helper")
    try:
        body = json.dumps({"state": "streaming", "minutes": 90}).encode()
        request = urllib.request.Request(server.url + "/override", data=body, method="POST",
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        set_lines = [m for m in announcements(caplog) if "override" in m.lower()]
        caplog.clear()
        request = urllib.request.Request(server.url + "/override", method="DELETE")
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
        cleared_lines = [m for m in announcements(caplog) if "override" in m.lower()]
    finally:
        server.stop()
    assert len(set_lines) == 1, set_lines
    assert set_lines[0].startswith("override: streaming for 90 min, until ")
    assert cleared_lines == ["override cleared: plex-helper follows Plex again"]


# ------------------------------------------------------------------------------------------ --verbose: why


def poll_line(caplog) -> str:
    (line,) = [m for m in messages(caplog, "DEBUG") if m.startswith("poll: ")]
    return line


def test_the_poll_line_says_why_each_session_counted_or_not(caplog):
    paused = PlaybackSession(state="paused", local=False, location="wan", user="bob", player="Phone")
    docker = PlaybackSession(state="playing", local=False, location="wan", user="carol", player="Web", address="172.17.0.5")
    ignored = PlaybackSession(state="playing", local=False, location="wan", user="kid", player="Laptop")
    relayed = PlaybackSession(state="playing", local=True, location="lan", relayed=True, user="dave", player="iPad")
    not_local = PlaybackSession(state="playing", local=False, user="erin", player="TV2")
    unknown = PlaybackSession(state="playing")
    sessions = [REMOTE, LAN, paused, docker, ignored, relayed, not_local, unknown]
    service, _, _ = make_service(
        [sessions], lan_networks=(ipaddress.ip_network("172.17.0.0/16"),), ignore_users=("kid",),
    )
    tick_logger = TickLogger(logging.getLogger(LOGGER), current_rule=lambda: service.decider.rule)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    tick_logger.report(service.tick())
    assert poll_line(caplog) == " | ".join([
        "poll: 8 session(s), 4 remote streams (dave, erin, friend); state streaming, streak 0",
        "friend on TV, playing: counted (remote: location wan, Player.local false)",
        "owner on PC, playing: not counted (local: location lan)",
        "bob on Phone, paused: not counted (paused is not in count_states)",
        "carol on Web, playing: not counted (172.17.0.5 is in lan_networks)",
        "kid on Laptop, playing: not counted (kid is in ignore_users)",
        "dave on iPad, playing: counted (remote: relayed)",
        "erin on TV2, playing: counted (remote: Player.local false)",
        "unknown user on unknown player, playing: counted (Plex did not say where it plays; counted to be safe)",
    ])


def test_without_the_rule_the_poll_line_still_says_which_counted(caplog):
    service, _, _ = make_service([[REMOTE, LAN]])
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    TickLogger(logging.getLogger(LOGGER)).report(service.tick())
    assert poll_line(caplog) == (  # without the rule, no reasons
        "poll: 2 session(s), 1 remote stream (friend); state streaming, streak 0"
        " | friend on TV, playing: counted | owner on PC, playing: not counted"
    )


def test_the_rule_is_read_at_each_poll(caplog):
    """A config reload replaces the service's rule: the reasons follow it."""
    service, _, _ = make_service([[LAN], [LAN]])
    tick_logger = TickLogger(logging.getLogger(LOGGER), current_rule=lambda: service.decider.rule)
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    tick_logger.report(service.tick())
    assert poll_line(caplog).endswith("owner on PC, playing: not counted (local: location lan)")
    caplog.clear()
    from dataclasses import replace

    service.decider = replace(service.decider, rule=replace(service.decider.rule, ignore_users=frozenset({"owner"})))
    tick_logger.report(service.tick())
    assert poll_line(caplog).endswith("owner on PC, playing: not counted (owner is in ignore_users)")


def test_at_info_level_nothing_is_built_for_the_debug_line(caplog, monkeypatch):
    import application.observers.reporting as reporting

    calls = []
    monkeypatch.setattr(reporting, "describe_streams", lambda s: calls.append(s) or "streams")
    service, _, _ = make_service([[REMOTE, LAN], [REMOTE, LAN], [REMOTE, LAN]])
    rule_reads = []
    tick_logger = TickLogger(logging.getLogger(LOGGER), current_rule=lambda: rule_reads.append(1) or service.decider.rule)
    caplog.set_level(logging.INFO, logger=LOGGER)
    reports = [service.tick() for _ in range(3)]
    tick_logger.report(reports[0])  # a state change and a new limit: INFO lines use describe_streams
    calls.clear()
    for report in reports[1:]:  # nothing to say at INFO
        tick_logger.report(report)
    assert calls == [] and rule_reads == []
    assert not messages(caplog, "DEBUG")


def test_the_notification_of_a_throttle_forced_by_an_override_names_it():
    from application.observers.notifications import NotificationPolicy

    sent = []

    class Sink:
        def notify(self, notification):
            sent.append(notification)

    service, _, _ = make_service([[]])
    until = time.time() + 3600
    service.set_override(Override(StreamState.STREAMING, until))
    NotificationPolicy(Sink(), lambda event, message, details: message).report(service.tick())
    assert sent == ["Throttled qBittorrent to 500 KiB/s: override streaming until %s" % clock_time(until)]


def test_the_containers_tick_logger_says_why_and_follows_a_reload(caplog):
    """Wiring: the container hands the TickLogger the service's rule, read at each poll."""
    from dataclasses import replace

    from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
    from application.container import Container
    from tests.application.builders import settings
    from tests.support.stand_ins import use_stand_ins

    container = Container(settings=settings())
    use_stand_ins(container, plex=ScriptedStreamSource([[LAN], [LAN]]), qbittorrent=RecordingQBittorrent())
    runner = container.runner()
    caplog.set_level(logging.DEBUG, logger="plex_helper")
    runner.run_once()
    assert poll_line(caplog).endswith("owner on PC, playing: not counted (local: location lan)")
    caplog.clear()
    service = runner.service
    service.decider = replace(service.decider, rule=replace(service.decider.rule, ignore_users=frozenset({"owner"})))
    runner.run_once()
    assert poll_line(caplog).endswith("owner on PC, playing: not counted (owner is in ignore_users)")
