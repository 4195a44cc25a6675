"""The daemon reacts to Plex's event stream within a second and sends notifications, end to end."""
import time

import pytest

from tests.adapters.notify.test_notifiers import server as recording_server  # noqa: F401 (a fixture)
from tests.application.daemon import start, stop, wait_until, write_config
from tests.support.plex_payloads import remote_movie
from tests.support.ports import free_port

KIB = 1024


@pytest.fixture
def qbt(fake_qbt):
    return fake_qbt


def test_a_playback_event_throttles_within_a_second_whatever_the_poll_interval(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt, poll_interval_sec=600, streaming_threshold=1)
    process = start("--config", path)
    try:
        assert plex_server.wait_for_sse_clients(1, timeout=10)
        assert wait_until(lambda: plex_server.request_count["/status/sessions"] == 1)
        plex_server.set_sessions([remote_movie()])
        started = time.monotonic()
        plex_server.emit_playing_event()
        assert wait_until(lambda: qbt.upload_limit == 500 * KIB, timeout=5)
        reaction = time.monotonic() - started
    finally:
        _, stderr = stop(process)
    assert reaction < 1.0, (reaction, stderr)
    assert plex_server.request_count["/status/sessions"] == 2  # one poll at start, one for the event


def test_without_the_event_stream_it_says_so_once_and_polls(tmp_path, plex_server, qbt):
    plex_server.set_events_answer(404)
    path = write_config(tmp_path, plex_server, qbt, poll_interval_sec=1)
    process = start("--config", path)
    try:
        assert wait_until(lambda: plex_server.request_count["/status/sessions"] >= 3, timeout=6)
    finally:
        _, stderr = stop(process)
    assert stderr.count("Plex does not offer the event stream") == 1
    assert process.returncode == 0


def test_plex_events_false_never_connects(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt, plex_events=False)
    process = start("--config", path)
    try:
        assert wait_until(lambda: plex_server.request_count["/status/sessions"] >= 1)
        time.sleep(0.5)
        assert plex_server.sse_client_count == 0
    finally:
        stop(process)


def test_a_throttle_sends_a_notification(tmp_path, plex_server, qbt, recording_server):  # noqa: F811
    plex_server.set_sessions([remote_movie(user="alice"), remote_movie(user="bob")])
    hook = {"type": "webhook", "url": recording_server.url + "/hook"}
    path = write_config(tmp_path, plex_server, qbt, notify=[hook], streaming_threshold=1, idle_threshold=1)
    process = start("--config", path)
    try:
        assert wait_until(lambda: qbt.upload_limit == 500 * KIB)
        plex_server.set_sessions([])
        assert wait_until(lambda: qbt.upload_limit == 0, timeout=5)
        bodies = [r.json() for r in recording_server.wait_for(2, timeout=5)]
    finally:
        stop(process)
    assert [b["message"] for b in bodies] == [
        "Throttled qBittorrent to 500 KiB/s: 2 remote streams (alice, bob)",
        "Restored qBittorrent's upload limit to unlimited: no remote streams",
    ]
    assert bodies[0]["event"] == "state_change" and bodies[0]["users"] == ["alice", "bob"]
    assert bodies[1]["state"] == "idle" and bodies[1]["upload_limit_kib"] == 0


def test_notification_and_status_tokens_never_reach_the_log(tmp_path, plex_server, qbt, recording_server):  # noqa: F811
    import json
    import urllib.request

    bot_token = "987654:SECRET-bot-TOKEN_x"
    status_token = "SECRET-status-TOKEN"
    port = free_port()
    plex_server.set_sessions([remote_movie()])
    targets = [
        {"type": "telegram", "bot_token": bot_token, "chat_id": "42", "api_url": recording_server.url},
        {"type": "ntfy", "url": recording_server.url + "/topic", "token": "SECRET-ntfy-TOKEN"},
    ]
    path = write_config(
        tmp_path, plex_server, qbt, notify=targets, status_listen="127.0.0.1:%d" % port, status_token=status_token,
        state_dir=str(tmp_path / "state"),
    )
    process = start("--config", path, "--verbose")
    try:
        assert wait_until(lambda: qbt.upload_limit == 500 * KIB)
        recorded = recording_server.wait_for(2, timeout=5)
        request = urllib.request.Request(
            "http://127.0.0.1:%d/webhook?token=%s" % (port, status_token),
            data=json.dumps({"event": "media.play"}).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).read()
    finally:
        stdout, stderr = stop(process)
    assert any(bot_token in r.path for r in recorded)  # the token is where Telegram wants it...
    output = stdout + stderr
    for secret in (bot_token, status_token, "SECRET-ntfy-TOKEN", plex_server.token):
        assert secret not in output, secret  # ...and nowhere in the log, even at DEBUG
