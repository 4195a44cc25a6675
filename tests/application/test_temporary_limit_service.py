"""A temporary limit through the service, with an injected wall clock: the recording limiter holds
the temporary value while idle and streaming, goes back to the policy exactly at the end, with one
INFO line and one notification; set and ended notifications name the direction, value and label."""
import logging

from adapters.clients.enforcers import GlobalLimitEnforcer
from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
from adapters.system.state_files import OverrideStore
from application.observers.notifications import NotificationPolicy
from application.observers.temporary_limits import TemporaryLimits
from application.service import ThrottleService
from domain.limit_plan import Direction
from tests.application.builders import REMOTE, ManualClock, build_decider, settings

KIB = 1024


class Sink:
    def __init__(self):
        self.sent = []

    def notify(self, notification):
        self.sent.append(notification)


def test_it_holds_while_active_and_ends_exactly_on_time(tmp_path, caplog):
    wall = ManualClock(1_000_000.0)
    limiter = RecordingQBittorrent()
    service = ThrottleService(ScriptedStreamSource([[], [REMOTE], [REMOTE], []]), GlobalLimitEnforcer(limiter),
                              build_decider(settings(streaming_threshold=1, idle_threshold=1)), clock=ManualClock(),
                              wall_clock=wall)
    sink, observed = Sink(), []
    notifications = NotificationPolicy(sink, lambda **kw: (kw["event"], kw["message"], kw["details"]), wall_clock=wall)
    limits = TemporaryLimits(lambda: service, OverrideStore(str(tmp_path), wall_clock=wall), observed.append,
                             notifications, wall_clock=wall)
    limits.set("upload", "1 MB/s", 45, "video call")
    assert observed == ["temporary limit"]
    assert sink.sent[0][0] == "temporary_limit_set" and "976 KiB/s" in sink.sent[0][1] and "(video call)" in sink.sent[0][1]
    limits.report(service.tick())  # idle: held all the same
    assert limiter.limit_bytes == 976 * KIB
    wall.advance(45 * 60 - 0.001)
    limits.report(service.tick())  # streaming, a moment before the end: still the temporary value
    assert limiter.limit_bytes == 976 * KIB
    wall.advance(0.001)
    with caplog.at_level(logging.INFO, logger="plex_helper"):
        limits.report(service.tick())  # exactly at the end: the policy's streaming budget
    assert limiter.limit_bytes == 500 * KIB
    ended = [r.getMessage() for r in caplog.records if "temporary limit ended" in r.getMessage()]
    assert ended == ["temporary limit ended: upload at 976 KiB/s (8.0 Mbit/s) (video call); the upload budget "
                     "follows the streams again"]
    assert [e for e, _, _ in sink.sent] == ["temporary_limit_set", "temporary_limit_ended"]
    assert sink.sent[1][2] == {"direction": "upload", "kib": 976, "until": 1_000_000.0 + 45 * 60, "label": "video call"}
    assert OverrideStore(str(tmp_path), wall_clock=wall).load_temporary() == {}
    assert service.temporary_limits == {} and Direction.UPLOAD not in service.throttle.temporary


def test_bad_values_are_refused_naming_the_field(tmp_path):
    service = ThrottleService(ScriptedStreamSource([[]]), GlobalLimitEnforcer(RecordingQBittorrent()),
                              build_decider(settings()), clock=ManualClock())
    limits = TemporaryLimits(lambda: service, OverrideStore(str(tmp_path)), lambda reason: None)
    for args, field in [(("sideways", 5, 5), "direction"), (("upload", "5 mb/s", 5), "kib"),
                        (("upload", "unlimited", 5), "kib"), (("upload", 0, 5), "kib"), (("upload", 2.5, 5), "kib"),
                        (("upload", 5, 0), "minutes"), (("upload", 5, 10081), "minutes"),
                        (("upload", 5, 5, "two\nlines"), "label")]:
        try:
            limits.set(*args)
        except ValueError as err:
            assert str(err).startswith(field), (args, err)
        else:
            raise AssertionError("accepted %r" % (args,))
    assert service.temporary_limits == {}
