"""rebalance: a client that is not uploading keeps a small share and the rest goes to the ones that
are; off by default; its rates are read at most once per reconcile interval."""
from __future__ import annotations

from adapters.fakes import RecordingQBittorrent, ScriptedStreamSource
from adapters.clients.enforcers import GlobalLimitEnforcer
from application.container import build_decider
from application.client_slot import ClientSlot
from application.service import MediaServer, ThrottleService
from domain.allocation import ClientShare
from domain.policies import SpeedLimit
from tests.application.builders import REMOTE, ManualClock, settings

KIB = 1024


class Rates:
    def __init__(self, kib: int) -> None:
        self.kib, self.reads = kib, 0

    def current_upload_rate(self) -> SpeedLimit:
        self.reads += 1
        return SpeedLimit(self.kib)


def service(rebalance: bool, busy: Rates, quiet: Rates, clock: ManualClock):
    a, b = RecordingQBittorrent(), RecordingQBittorrent()
    slots = [ClientSlot("busy", GlobalLimitEnforcer(a), ClientShare("busy"), rates=busy),
             ClientSlot("quiet", GlobalLimitEnforcer(b), ClientShare("quiet"), rates=quiet)]
    s = settings(streaming_threshold=1, idle_threshold=1, streaming_upload_kbps=1000, reconcile_interval_sec=60)
    svc = ThrottleService([MediaServer("plex", ScriptedStreamSource([[REMOTE]]))], slots, build_decider(s),
                          clock=clock, reconcile_interval_sec=60, rebalance=rebalance)
    return svc, a, b


def test_off_by_default_the_weighted_split():
    svc, a, b = service(False, Rates(800), Rates(0), ManualClock())
    svc.tick()
    assert (a.limit_bytes, b.limit_bytes) == (500 * KIB, 500 * KIB)


def test_a_quiet_client_keeps_a_tenth_of_its_share_and_the_busy_one_gets_the_rest():
    clock = ManualClock()
    busy, quiet = Rates(800), Rates(0)
    svc, a, b = service(True, busy, quiet, clock)
    svc.tick()
    assert (a.limit_bytes, b.limit_bytes) == (950 * KIB, 50 * KIB)
    for _ in range(5):
        clock.advance(10)
        svc.tick()
    assert busy.reads == 1 and quiet.reads == 1  # once per reconcile interval, not per poll
    quiet.kib = 400  # the quiet one starts uploading: equal activity, the weighted split again
    clock.advance(60)
    svc.tick()
    assert (a.limit_bytes, b.limit_bytes) == (500 * KIB, 500 * KIB)
