"""Whatever the qBittorrent side sends, the daemon stays small and a stop signal ends it in time."""
from __future__ import annotations

import signal
import time

import pytest

from tests.application.daemon import start, stop, wait_until, write_config
from tests.support.hostile_http import HostileServer, endless_body, trickle_body, trickle_head
from tests.support.plex_payloads import remote_movie
from tests.support.plex_server import PlexTestServer

TIMEOUT = 2


def rss_mb(pid: int) -> float:
    with open("/proc/%d/status" % pid) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


@pytest.mark.parametrize("behaviour", [endless_body(), trickle_body(b"1000"), trickle_head()],
                         ids=["gigabyte", "trickling-body", "trickling-head"])
def test_memory_stays_small_and_sigterm_ends_it_within_the_timeout_plus_a_second(tmp_path, behaviour):
    with PlexTestServer() as plex, HostileServer(behaviour) as qbt:
        qbt.username = qbt.password = ""
        plex.set_sessions([remote_movie()])
        config = write_config(tmp_path, plex, qbt, http_timeout_sec=TIMEOUT, plex_events=True,
                              status_listen="127.0.0.1:0", state_dir=str(tmp_path / "state"))
        daemon = start("--config", config)
        try:
            assert wait_until(lambda: qbt.requests >= 3, timeout=20), "the daemon stopped asking"
            assert rss_mb(daemon.pid) < 100
            time.sleep(0.3)  # a request to qBittorrent is in flight now, most likely
            started = time.monotonic()
            daemon.send_signal(signal.SIGTERM)
            daemon.wait(timeout=TIMEOUT + 5)
            elapsed = time.monotonic() - started
        finally:
            _, stderr = stop(daemon)
    assert daemon.returncode == 0, stderr
    assert elapsed < TIMEOUT + 1 + 0.5, (elapsed, stderr)  # the README's promise, with a little slack
    assert "Traceback" not in stderr
