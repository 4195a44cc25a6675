"""SIGHUP reloads and sd_notify, with the daemon as a subprocess against the local test servers."""
import json
import signal
import socket

import pytest

from adapters.system.systemd import SystemdNotifier
from tests.application.daemon import start, stop, wait_until, write_config
from tests.support.plex_payloads import remote_movie

KIB = 1024


@pytest.fixture
def qbt(fake_qbt):
    return fake_qbt


def test_sighup_applies_a_valid_config_without_losing_the_state(tmp_path, plex_server, qbt):
    plex_server.set_sessions([remote_movie()])
    path = write_config(tmp_path, plex_server, qbt, poll_interval_sec=1)
    process = start("--config", path)
    try:
        assert wait_until(lambda: qbt.upload_limit == 500 * KIB)
        config = json.loads(open(path).read())
        # a higher threshold would need 5 polls from idle: the state must be kept, not recomputed
        config.update(streaming_upload_kbps=300, streaming_threshold=5)
        open(path, "w").write(json.dumps(config))
        process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: qbt.upload_limit == 300 * KIB, timeout=5)
    finally:
        _, stderr = stop(process)
    assert process.returncode == 0, stderr
    assert "config reloaded from %s: streaming_threshold, streaming_upload_kbps changed" % path in stderr
    assert "streaming -> idle" not in stderr


def test_sighup_with_an_invalid_config_keeps_the_old_one(tmp_path, plex_server, qbt):
    plex_server.set_sessions([remote_movie()])
    path = write_config(tmp_path, plex_server, qbt, poll_interval_sec=1)
    process = start("--config", path)
    try:
        assert wait_until(lambda: qbt.upload_limit == 500 * KIB)
        open(path, "w").write('{"plex_url": "nope", "streaming_upload_kbps": 1}')
        process.send_signal(signal.SIGHUP)
        assert wait_until(lambda: plex_server.request_count["/status/sessions"] >= 4, timeout=6)
        assert qbt.upload_limit == 500 * KIB and process.poll() is None
    finally:
        _, stderr = stop(process)
    assert process.returncode == 0
    assert "config reload failed, keeping the running config: %s: plex_url: must be an http" % path in stderr
    assert "qbittorrent_url: is required" in stderr


def test_sd_notify_ready_status_watchdog_reloading_stopping(tmp_path, plex_server, qbt):
    sock_path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(sock_path)
    listener.settimeout(5)
    plex_server.set_sessions([remote_movie()])
    process = start("--config", write_config(tmp_path, plex_server, qbt), NOTIFY_SOCKET=sock_path, WATCHDOG_USEC="1000000")
    messages = []

    def receive_until(marker):
        while True:
            message = listener.recv(4096).decode()
            messages.append(message)
            if marker in message:
                return message

    try:
        ready = receive_until("READY=1")
        assert "STATUS=streaming: 1 remote stream, upload limit 500 KiB/s" in ready
        receive_until("WATCHDOG=1")
        process.send_signal(signal.SIGHUP)
        reloading = receive_until("RELOADING=1")
        assert "MONOTONIC_USEC=" in reloading
        receive_until("READY=1")
        process.send_signal(signal.SIGTERM)
        receive_until("STOPPING=1")
    finally:
        stop(process)
        listener.close()
    assert process.returncode == 0
    # the watchdog is pinged at least every half interval (0.5 s) while the loop sleeps
    assert sum("WATCHDOG=1" in m for m in messages) >= 2


def test_notifier_is_silent_outside_systemd():
    notifier = SystemdNotifier(environ={})
    assert not notifier.enabled and notifier.watchdog_interval_sec is None
    assert notifier.send("READY=1") is False


def test_notifier_ignores_a_watchdog_meant_for_another_process():
    notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": "/nonexistent", "WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1"})
    assert notifier.watchdog_interval_sec is None
    assert notifier.send("READY=1") is False  # a missing socket is not an error


def test_abstract_namespace_socket(tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = "plex-helper-test-%d" % id(listener)
    listener.bind("\0" + name)
    listener.settimeout(2)
    try:
        notifier = SystemdNotifier(environ={"NOTIFY_SOCKET": "@" + name})
        notifier.ready("idle")
        assert listener.recv(100) == b"READY=1\nSTATUS=idle"
    finally:
        listener.close()
