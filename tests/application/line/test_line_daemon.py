"""The measured line end to end, in process through the container: a real qbittorrent-nox, the Plex
stand-in with a remote stream of 200 KiB/s, a 1000 KiB/s line with 10 % headroom.

The line's counters come from a scripted meter on the container's injected clock (deterministic
poll by poll); the real `host` meter on `lo` is held to real loopback traffic in the last test.
"""
from __future__ import annotations

import socket
import threading
import time

import pytest

from application.config.settings import LineMeterSettings
from application.container import Container
from application.line_tracker import LineTracker
from tests.application.builders import ManualClock, settings
from tests.support.plex_payloads import remote_movie
from tests.support.plex_server import PlexTestServer
from tests.support.scripted_line_meter import ScriptedLineMeter

KIB = 1024
STREAM_KBPS = 1638  # 200 KiB/s
POLL_SEC = 10


@pytest.fixture
def plex():
    with PlexTestServer() as server:
        yield server


def line_container(plex, qbt, tmp_path, meter_settings=LineMeterSettings("host", interface="lo")):
    container = Container(settings=settings(
        plex_url=plex.url, plex_token=plex.token, plex_events=False,
        qbittorrent_url=qbt.url, qbittorrent_username=qbt.username, qbittorrent_password=qbt.password,
        streaming_upload_kbps=1000, idle_upload_kbps=None, streaming_threshold=1, idle_threshold=1,
        poll_interval_sec=POLL_SEC, state_dir=str(tmp_path), history_days=0,
        line_upload_kbps=1000, line_headroom_percent=10, line_meter=meter_settings,
    ))
    container.override_providers(clock=ManualClock())
    return container


def test_other_traffic_lowers_qbittorrents_limit_within_three_polls_and_its_end_lets_it_rise(plex, qbt_nox, tmp_path):
    container = line_container(plex, qbt_nox, tmp_path)
    clock = container.clock()
    limiter = container.client_adapters()["qbittorrent"]
    limiter.set_upload_limit(0)  # the user's own: unlimited
    service = container.service()
    assert isinstance(service.line, LineTracker) and service.line.label == "host lo"
    meter = ScriptedLineMeter(clock)
    service.line.meter = meter  # the configured `lo` meter is exercised below, with real traffic
    runner = container.runner(interval_sec=0)
    status = container.daemon_status()
    runner.observers.append(status)

    def poll() -> int:
        clock.advance(POLL_SEC)
        runner.run_once()
        return limiter.current_upload_limit() // KIB

    plex.set_sessions([remote_movie(bandwidth=STREAM_KBPS)])
    meter.rates(upload_kib=200 + 300)  # the stream, and ~300 KiB/s of other devices
    limits = [poll() for _ in range(3)]
    assert 380 <= limits[-1] <= 420, limits
    body = status.health()[1]["line"]
    assert body["meter"] == "host lo" and body["failure"] is None
    assert (body["upload"]["measured_kib"], round(body["upload"]["other_kib"]), body["upload"]["budget_kib"]) == (
        500, 300, limits[-1])
    assert 'plex_helper_line_other_bytes_per_second{direction="upload"}' in container.metrics().render()

    meter.rates(upload_kib=200)  # the other devices stop
    rising = [poll() for _ in range(3)]
    assert rising[0] > limits[-1] and rising[-1] >= 640, rising

    meter.fail("the router did not answer")  # the fixed budget, until it reads again
    assert poll() == 1000
    assert status.health()[1]["line"]["failure"] == "the router did not answer"
    meter.fail(None)

    plex.set_sessions([])
    poll()
    assert limiter.current_upload_limit() == 0  # idle: the user's own limit back, as found
    assert status.health()[1]["line"]["throttling"] is False


def test_the_host_meter_on_lo_measures_real_loopback_traffic(plex, qbt_nox, tmp_path):
    """Real time and real bytes: ~300 KiB/s paced over a local socket pair for 3 s. Other tests on
    this machine may add to `lo`, never take from it: only the lower bounds are firm."""
    container = line_container(plex, qbt_nox, tmp_path)
    container.override_providers(clock=time.monotonic)
    limiter = container.client_adapters()["qbittorrent"]
    limiter.set_upload_limit(0)
    service = container.service()
    runner = container.runner(interval_sec=0)
    plex.set_sessions([remote_movie(bandwidth=STREAM_KBPS)])
    runner.run_once()  # streaming; the meter's baseline
    started = time.monotonic()
    paced_over_loopback(300 * KIB, seconds=3.0)
    runner.run_once()
    figures = next(iter(service.line.figures().directions.values()))
    elapsed = time.monotonic() - started
    assert figures.measured_kib is not None and figures.measured_kib >= 300 * 3.0 / elapsed * 0.85, figures
    # lo carries the bytes once each way. The stream is not on lo, so its 200 KiB/s are subtracted
    # from traffic that never had them: other traffic reads as ~100, and the budget follows it
    clients, streams = figures.clients_kib or 0.0, figures.streams_kib or 0.0  # None: not known this poll
    other = max(figures.measured_kib - clients - streams, 0)
    assert abs(figures.other_kib - other) < 1
    assert limiter.current_upload_limit() // KIB == figures.budget_kib <= 900 - streams - other + 1
    plex.set_sessions([])
    runner.run_once()


def paced_over_loopback(bytes_per_sec: int, seconds: float) -> None:
    """Sends `bytes_per_sec` through a TCP pair on 127.0.0.1 for `seconds`, in 20 ms slices."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def drain() -> None:
        conn, _ = listener.accept()
        with conn:
            while conn.recv(1 << 16):
                pass
        done.set()

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    slice_sec = 0.02
    block = b"x" * int(bytes_per_sec * slice_sec)
    with socket.create_connection(listener.getsockname(), timeout=5) as sender:
        start = time.monotonic()
        sent = 0
        while time.monotonic() - start < seconds:
            sender.sendall(block)
            sent += 1
            pause = start + sent * slice_sec - time.monotonic()
            if pause > 0:
                time.sleep(pause)  # pacing the sender, not waiting for a result
    assert done.wait(5)
    reader.join(5)
    listener.close()
