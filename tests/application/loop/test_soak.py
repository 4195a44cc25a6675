"""Soak: 10,000 polls at a zero interval against the Plex test server and the fake qBittorrent 5.2 over
real HTTP, with the real adapters and the real run loop. Memory stays flat, no file descriptor leaks,
one Plex request per poll on one keep-alive connection, no qBittorrent write in steady state, and
qBittorrent reads only at the reconcile interval.

The fake qBittorrent is used (not qbittorrent-nox) because only it counts requests by kind.
Memory is measured two ways: the resident set size over the 10,000 untraced polls of the real loop
(after a warm-up that fills the Plex server's bounded request log; growth < 1 MB), and tracemalloc over
2,000 polls, counting only allocations made in application/, adapters/, domain/, urllib3 and json that
are still alive afterwards (< 32 bytes per poll), which would catch a slow leak RSS hides.
"""
from __future__ import annotations

import gc
import os
import time
import tracemalloc

from application.container import Container
from application.config.settings import Settings
from domain.state import StreamState
from tests.support.clock import ManualClock
from tests.support.fake_qbittorrent import FakeQBittorrent
from tests.support.plex_payloads import lan_track, remote_movie
from tests.support.plex_server import PlexTestServer

POLLS = 10_000
WARM_UP = 1_500  # > the Plex test server's request log (1000 entries), so it is full before measuring
TRACED_WARM_UP, TRACED = 500, 2_000
RECONCILE_EVERY = 100  # polls (the clock advances 1 s per poll)
KIB = 1024


# Allocations made by the code under test: the test servers (http.server, email, tests/support) keep
# bounded request logs that a short traced window would misread as growth, so they are left out.
OUR_CODE = [
    tracemalloc.Filter(True, "*/application/*"),
    tracemalloc.Filter(True, "*/adapters/*"),
    tracemalloc.Filter(True, "*/domain/*"),
    tracemalloc.Filter(True, "*/urllib3/*"),
    tracemalloc.Filter(True, "*/json/*"),
]


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_ten_thousand_polls_stay_flat(record_property):
    with PlexTestServer() as plex, FakeQBittorrent(username="admin", password="soak-pw") as qbt:
        plex.set_sessions([remote_movie(), lan_track()])
        settings = Settings(
            plex_url=plex.url, plex_token=plex.token, qbittorrent_url=qbt.url,
            qbittorrent_username="admin", qbittorrent_password="soak-pw",
            streaming_threshold=1, idle_threshold=1, streaming_upload_kbps=500,
            reconcile_interval_sec=RECONCILE_EVERY, poll_interval_sec=1, http_timeout_sec=5,
        )
        container = Container(settings=settings)
        container.override_providers(clock=ManualClock(10_000.0, step=1.0))  # one second per tick
        runner = container.runner(interval_sec=0)
        for _ in range(WARM_UP):
            runner.run_once()
        assert container.service().machine_state.state is StreamState.STREAMING
        assert qbt.upload_limit == 500 * KIB and qbt.logins == 1

        # Phase 1, tracemalloc: what our code (and urllib3, json) still holds after TRACED more polls
        tracemalloc.start()
        try:
            for _ in range(TRACED_WARM_UP):
                runner.run_once()
            gc.collect()
            first = tracemalloc.take_snapshot().filter_traces(OUR_CODE)
            for _ in range(TRACED):
                runner.run_once()
            gc.collect()
            second = tracemalloc.take_snapshot().filter_traces(OUR_CODE)
        finally:
            tracemalloc.stop()
        held = sum(stat.size_diff for stat in second.compare_to(first, "lineno"))

        # Phase 2, the real loop untraced for POLLS polls: RSS, descriptors, request counts
        # (deltas, not reset_counters(): resetting would empty the Plex server's bounded request log)
        plex_before, qbt_requests_before = plex.request_count, len(qbt.requests)
        qbt_reads_before, qbt_logins_before = qbt.count("transfer/uploadLimit"), qbt.logins
        qbt_writes_before, connections_before = qbt.writes, plex.connection_count
        gc.collect()
        fds_before, rss_before = open_fds(), rss_bytes()
        started = time.perf_counter()

        runner.max_ticks = runner.ticks + POLLS
        assert runner.run() == 0  # the real loop, interval 0; exits via shutdown (restore_on_exit)

        elapsed = time.perf_counter() - started
        gc.collect()
        fds_after, rss_after = open_fds(), rss_bytes()

        record_property("soak_seconds", round(elapsed, 2))
        record_property("traced_held_bytes", held)
        record_property("rss_growth_bytes", rss_after - rss_before)

        assert runner.ticks == WARM_UP + TRACED_WARM_UP + TRACED + POLLS
        # one Plex request per poll, over the one keep-alive connection
        plex_delta = plex.request_count - plex_before
        assert plex_delta == {"/status/sessions": POLLS}
        assert plex.connection_count == connections_before == 1
        # qBittorrent: reads only every RECONCILE_EVERY polls, no login, and the one write is the restore
        window = qbt.requests[qbt_requests_before:]
        assert qbt.count("transfer/uploadLimit") - qbt_reads_before == POLLS // RECONCILE_EVERY
        assert [r.endpoint for r in window[:-1]] == ["transfer/uploadLimit"] * (POLLS // RECONCILE_EVERY)
        assert qbt.logins == qbt_logins_before
        assert qbt.writes - qbt_writes_before == 1
        assert window[-1].endpoint == "transfer/setUploadLimit" and window[-1].form == {"limit": "0"}
        assert qbt.upload_limit == 0
        # no leak: descriptors equal, memory flat
        assert fds_after == fds_before, (fds_before, fds_after)
        assert held < 32 * TRACED, [str(stat) for stat in second.compare_to(first, "lineno")[:5]]
        assert rss_after - rss_before < 1024 * 1024, rss_after - rss_before
        assert elapsed < 60, elapsed  # 10,000 polls take 5-8 s here
