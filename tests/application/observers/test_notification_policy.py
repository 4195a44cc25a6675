from application.observers.notifications import NotificationPolicy
from tests.application.builders import DOWN, REMOTE, make_service


class Sink:
    def __init__(self):
        self.sent = []

    def notify(self, notification):
        self.sent.append(notification)


def make(event, message, details):
    return (event, message, dict(details))


def run(script, after_failures=3, limiter=None, **overrides):
    service, _, limiter = make_service(script, limiter=limiter, **overrides)
    sink = Sink()
    policy = NotificationPolicy(sink, make, after_failures=after_failures)
    for _ in script:
        policy.report(service.tick())
    return sink.sent


def test_state_changes_are_announced_but_not_an_idle_start():
    sent = run([[], [REMOTE], [REMOTE], [], [], []])
    assert [m for _, m, _ in sent] == [
        "Throttled qBittorrent to 500 KiB/s: 1 remote stream (friend)",
        "Restored qBittorrent's upload limit to unlimited: no remote streams",
    ]


def test_a_side_failing_is_announced_once_after_n_polls_and_once_on_recovery():
    sent = run([[], DOWN, DOWN, DOWN, DOWN, DOWN, [], DOWN], after_failures=3)
    events = [(e, m) for e, m, _ in sent]
    assert events == [
        ("side_failing", "Plex has failed 3 polls in a row: %s" % DOWN),
        ("side_recovered", "Plex answers again"),
    ]


def test_qbittorrent_failures_count_only_polls_that_asked_it():
    from adapters.fakes import RecordingQBittorrent

    limiter = RecordingQBittorrent()
    limiter.fail_with("qBittorrent not reachable at http://qbt:8080: connection refused")
    service, _, _ = make_service([[REMOTE]] * 6, limiter=limiter)
    sink = Sink()
    policy = NotificationPolicy(sink, make, after_failures=2)
    for _ in range(4):
        policy.report(service.tick())
    assert [e for e, _, _ in sink.sent] == ["side_failing"]  # no "Throttled" while it is not in force
    assert sink.sent[0][2]["side"] == "qBittorrent"
    limiter.recover()
    policy.report(service.tick())
    assert [m for _, m, _ in sink.sent[1:]] == [
        "qBittorrent answers again",
        "Throttled qBittorrent to 500 KiB/s: 1 remote stream (friend)",
    ]


def test_overrides_are_announced():
    from domain.overrides import Override
    from domain.state import StreamState

    sink = Sink()
    policy = NotificationPolicy(sink, make)
    policy.override_changed(Override(StreamState.STREAMING, until=2_000_000_000.0))
    policy.override_changed(None)
    (event, message, details), (event2, message2, _) = sink.sent
    assert event == "override" and message.startswith("Override: streaming until ")
    assert details["state"] == "streaming" and details["until"] == 2_000_000_000.0
    assert (event2, message2) == ("override", "Override ended: plex-helper follows Plex again")


def test_each_client_has_its_own_failure_streak_named_as_in_the_config():
    from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
    from application.client_slot import ClientSlot
    from application.container import build_decider
    from adapters.clients.enforcers import GlobalLimitEnforcer
    from application.service import MediaServer, ThrottleService
    from tests.application.builders import ManualClock, settings

    good, bad = RecordingQBittorrent(), RecordingQBittorrent()
    bad.fail_with("Transmission not reachable at http://nas:9091/transmission/rpc: connection refused")
    clock = ManualClock()
    service = ThrottleService(
        [MediaServer("plex", ScriptedStreamSource([[REMOTE]]))],
        [ClientSlot("seedbox", GlobalLimitEnforcer(good)), ClientSlot("vpn", GlobalLimitEnforcer(bad))],
        build_decider(settings(streaming_threshold=1, idle_threshold=1)), clock=clock, reconcile_interval_sec=0,
    )
    sink = Sink()
    policy = NotificationPolicy(sink, make, after_failures=2, labels={"seedbox": "qBittorrent 'seedbox'",
                                                                       "vpn": "Transmission 'vpn'"})
    for _ in range(3):
        clock.advance(10)
        policy.report(service.tick())
    failing = [m for e, m, _ in sink.sent if e == "side_failing"]
    assert failing == ["Transmission 'vpn' has failed 2 polls in a row: Transmission not reachable at "
                       "http://nas:9091/transmission/rpc: connection refused"]
    bad.recover()
    clock.advance(10)
    policy.report(service.tick())
    assert [m for e, m, _ in sink.sent if e == "side_recovered"] == ["Transmission 'vpn' answers again"]
