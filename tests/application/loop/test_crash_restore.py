"""A throttle survives nothing it should not: kill -9 while throttled, then a start while Plex is
failing, still ends with the idle limit back; and a trickling Plex never freezes the loop."""
from __future__ import annotations

import signal

from tests.application.daemon import start, stop, wait_until, write_config
from tests.support.fake_qbittorrent import FakeQBittorrent
from tests.support.hostile_http import HostileServer, trickle_body
from tests.support.plex_payloads import remote_movie
from tests.support.plex_server import PlexTestServer

KIB = 1024


def test_kill_9_while_throttled_then_a_start_while_plex_fails_then_sigterm_restores(tmp_path):
    with PlexTestServer() as plex, FakeQBittorrent() as qbt:
        plex.set_sessions([remote_movie()])
        config = write_config(tmp_path, plex, qbt, state_dir=str(tmp_path / "state"), plex_events=False,
                              plex_down_restore_after_sec=300)
        daemon = start("--config", config)
        try:
            assert wait_until(lambda: qbt.upload_limit == 500 * KIB), "never throttled"
        finally:
            stop(daemon, signal.SIGKILL)
        assert qbt.upload_limit == 500 * KIB  # nothing restored a killed process
        plex.set_status(500)
        daemon = start("--config", config)
        assert wait_until(lambda: plex.request_count["/status/sessions"] >= 2), "the second run never polled"
        assert qbt.upload_limit == 500 * KIB  # Plex fails: the state is unknown, nothing decided yet
        _, stderr = stop(daemon)
    assert daemon.returncode == 0, stderr
    assert qbt.upload_limit == 0, stderr
    assert "upload limit restored to unlimited" in stderr


def test_a_trickling_plex_keeps_the_loop_polling_and_lifts_the_throttle_in_time(tmp_path):
    with PlexTestServer() as plex, FakeQBittorrent() as qbt:
        plex.set_sessions([remote_movie()])
        with HostileServer(trickle_body(every_sec=0.2)) as trickle:
            config = write_config(tmp_path, plex, qbt, plex_events=False, http_timeout_sec=1,
                                  plex_down_restore_after_sec=3, state_dir=str(tmp_path / "state"))
            daemon = start("--config", config)
            try:
                assert wait_until(lambda: qbt.upload_limit == 500 * KIB), "never throttled"
                plex.stop()  # from now on "Plex" trickles: same port, new server
                trickle_config = write_config(tmp_path, trickle, qbt, plex_events=False, http_timeout_sec=1,
                                              plex_down_restore_after_sec=3, state_dir=str(tmp_path / "state"))
                assert trickle_config == config
                daemon.send_signal(signal.SIGHUP)  # the reload points the daemon at the trickling server
                assert wait_until(lambda: trickle.requests >= 3, timeout=15), "the loop froze"
                assert wait_until(lambda: qbt.upload_limit == 0, timeout=15), "the throttle stayed"
            finally:
                _, stderr = stop(daemon)
    assert "no complete answer within 1 s" in stderr
    assert "Plex has not answered for too long" in stderr
