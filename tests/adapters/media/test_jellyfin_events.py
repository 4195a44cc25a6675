"""The Jellyfin / Emby push listener against the stand-in servers' WebSocket endpoints."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, Iterator, List

import pytest

from adapters.media.jellyfin.source import EMBY, JELLYFIN
from adapters.media.jellyfin.events import JellyfinEventListener, playing_fingerprint
from tests.support import jellyfin_payloads as jp
from tests.support.jellyfin_server import JellyfinTestServer
from tests.support.waiting import wait_until as wait_for


class Triggers:
    def __init__(self) -> None:
        self.reasons: List[str] = []
        self._lock = threading.Lock()
        self.fail = False

    def __call__(self, reason: str) -> None:
        with self._lock:
            self.reasons.append(reason)
        if self.fail:
            raise RuntimeError("caller bug")

    @property
    def count(self) -> int:
        with self._lock:
            return len(self.reasons)


@pytest.fixture(params=[JELLYFIN, EMBY], ids=["jellyfin", "emby"])
def server(request: Any) -> Iterator[JellyfinTestServer]:
    with JellyfinTestServer(request.param) as s:
        yield s


@pytest.fixture
def triggers() -> Triggers:
    return Triggers()


@pytest.fixture
def make_listener(
    caplog: pytest.LogCaptureFixture, triggers: Triggers
) -> Iterator[Callable[..., JellyfinEventListener]]:
    """Listeners with fast backoff, stopped after the test; no API key may reach the log."""
    caplog.set_level(logging.DEBUG)
    made: List[JellyfinEventListener] = []
    keys: List[str] = []

    def make(server: JellyfinTestServer, **kw: Any) -> JellyfinEventListener:
        kw.setdefault("timeout_sec", 2.0)
        kw.setdefault("backoff_initial_sec", 0.05)
        kw.setdefault("backoff_max_sec", 0.4)
        key = kw.pop("api_key", server.api_key)
        keys.append(key)
        listener = JellyfinEventListener(server.kind, server.url, key, triggers, **kw)
        made.append(listener)
        listener.start()
        return listener

    yield make
    for listener in made:
        listener.stop()
    for key in keys:
        assert key not in caplog.text
        for record in caplog.records:
            assert key not in str(record.args) and key not in record.getMessage()


def test_subscribes_and_a_pushed_sessions_message_triggers_within_a_second(
        server: JellyfinTestServer, make_listener: Any, triggers: Triggers) -> None:
    listener = make_listener(server)
    assert wait_for(lambda: server.push_client_count() == 1)
    subscribe = server.next_client_message()
    assert subscribe == {"MessageType": "SessionsStart", "Data": "0,1500"}
    request = server.push_requests[0]
    if server.kind is JELLYFIN:
        assert request.query["ApiKey"] == [server.api_key] and "deviceId" not in request.query
        assert request.headers["authorization"] == 'MediaBrowser Token="%s"' % server.api_key
    else:
        assert request.query["api_key"] == [server.api_key] and request.query["deviceId"] == ["plex-helper"]
    started = time.monotonic()
    server.push_sessions([jp.direct_play_remote(session_id="s1")])
    assert wait_for(lambda: triggers.count >= 1, timeout=1.0)
    assert time.monotonic() - started < 1.0
    assert triggers.reasons[0] == "%s push Sessions" % server.kind.name
    assert listener.available is True and listener.connected


def test_only_changes_in_what_plays_trigger(server: JellyfinTestServer, make_listener: Any, triggers: Triggers) -> None:
    make_listener(server)
    assert wait_for(lambda: server.push_client_count() == 1)
    playing = jp.direct_play_remote(session_id="s1")
    server.push_sessions([playing])
    assert wait_for(lambda: triggers.count == 1)
    server.push_sessions([playing])  # a progress report: the same item, still playing
    server.push({"MessageType": "KeepAlive"})
    paused = dict(playing, PlayState=dict(playing["PlayState"], IsPaused=True))
    server.push_sessions([paused])
    assert wait_for(lambda: triggers.count == 2)
    server.push_sessions([jp.idle_session(session_id="s1")])  # stopped
    assert wait_for(lambda: triggers.count == 3)
    server.push({"MessageType": "PlaybackStart", "Data": {}})
    assert wait_for(lambda: triggers.count == 4)
    time.sleep(0.1)
    assert triggers.reasons[3].endswith("PlaybackStart") and triggers.count == 4


def test_keepalive_is_answered(server: JellyfinTestServer, make_listener: Any) -> None:
    server.force_keepalive = 0.4  # the listener answers at once, then every 0.2 s
    make_listener(server)
    assert wait_for(lambda: server.push_client_count() == 1)
    messages = [server.next_client_message(timeout=3) for _ in range(3)]
    assert messages[0]["MessageType"] == "SessionsStart"
    assert [m["MessageType"] for m in messages[1:]] == ["KeepAlive", "KeepAlive"]
    assert wait_for(lambda: server.client_pings >= 1, timeout=3)


def test_reconnects_after_the_server_drops(server: JellyfinTestServer, make_listener: Any,
                                           triggers: Triggers, caplog: pytest.LogCaptureFixture) -> None:
    listener = make_listener(server)
    assert wait_for(lambda: server.push_client_count() == 1)
    server.push({"MessageType": "KeepAlive"})  # a valid message proves the channel
    time.sleep(0.1)
    server.drop_push_clients()
    assert wait_for(lambda: listener.attempts >= 2 and server.push_client_count() == 1)
    server.push_sessions([jp.direct_play_remote()])
    assert wait_for(lambda: triggers.count >= 1)
    assert "push channel lost; reconnecting" in caplog.text


def test_backoff_grows_when_the_server_sends_junk(server: JellyfinTestServer, make_listener: Any,
                                                 triggers: Triggers) -> None:
    server.push_mode = "junk"
    listener = make_listener(server, backoff_initial_sec=0.02, backoff_max_sec=0.32)
    assert wait_for(lambda: listener.attempts >= 5, timeout=5)
    assert listener.last_delay >= 0.16  # 0.02, 0.04, 0.08, 0.16: never reset by junk
    assert triggers.count == 0


def test_a_valid_message_resets_the_backoff(server: JellyfinTestServer, make_listener: Any) -> None:
    server.push_mode = "drop"
    listener = make_listener(server, backoff_initial_sec=0.02, backoff_max_sec=0.32)
    assert wait_for(lambda: listener.attempts >= 5, timeout=5)
    assert listener.last_delay >= 0.16
    server.push_mode = "normal"  # ForceKeepAlive on connect is a valid message
    assert wait_for(lambda: server.push_client_count() == 1, timeout=5)
    server.drop_push_clients()
    assert wait_for(lambda: listener.last_delay == 0.02, timeout=5)


def test_a_quiet_server_that_answers_pings_is_kept(server: JellyfinTestServer, make_listener: Any) -> None:
    server.force_keepalive = None
    listener = make_listener(server, keepalive_sec=0.1, timeout_sec=0.3)
    assert wait_for(lambda: server.client_pings >= 10, timeout=5)  # 1 s of pings: past the 0.55 s limit
    assert listener.attempts == 1 and listener.connected


def test_a_silent_server_is_left_and_reconnected(server: JellyfinTestServer, make_listener: Any) -> None:
    server.force_keepalive, server.silent = None, True  # a half-open connection
    listener = make_listener(server, keepalive_sec=0.1, timeout_sec=0.3)
    assert wait_for(lambda: listener.attempts >= 2, timeout=5)


def test_a_server_without_push_is_noted_once_and_left(server: JellyfinTestServer, make_listener: Any,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    server.push_status = 404
    listener = make_listener(server)
    assert wait_for(lambda: listener.available is False)
    time.sleep(0.3)
    notes = [r for r in caplog.records if "does not offer its push channel" in r.getMessage()]
    assert len(notes) == 1 and notes[0].levelno == logging.INFO and listener.attempts == 1
    assert server.kind.push_path in notes[0].getMessage() and "?" not in notes[0].getMessage()


def test_a_refused_key_is_warned_once_without_the_key(server: JellyfinTestServer, make_listener: Any,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    listener = make_listener(server, api_key="wrong-key-0000")
    assert wait_for(lambda: listener.attempts >= 3, timeout=5)
    warnings = [r for r in caplog.records if "refused the API key" in r.getMessage()]
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING


def test_a_failing_trigger_does_not_end_the_listener(server: JellyfinTestServer, make_listener: Any,
                                                     triggers: Triggers) -> None:
    triggers.fail = True
    make_listener(server)
    assert wait_for(lambda: server.push_client_count() == 1)
    server.push_sessions([jp.direct_play_remote(session_id="a")])
    assert wait_for(lambda: triggers.count == 1)
    server.push_sessions([jp.direct_play_remote(session_id="b")])
    assert wait_for(lambda: triggers.count == 2)


def test_stop_unsubscribes_and_ends_the_thread(server: JellyfinTestServer, make_listener: Any) -> None:
    listener = make_listener(server)
    assert wait_for(lambda: server.push_client_count() == 1)
    assert server.next_client_message()["MessageType"] == "SessionsStart"
    listener.stop()
    after = []
    while True:
        message = server.next_client_message(timeout=1)
        if message is None:
            break
        after.append(message)
    assert after[-1] == {"MessageType": "SessionsStop", "Data": ""}  # after the KeepAlive answers
    assert wait_for(lambda: server.push_client_count() == 0)
    assert listener._thread is not None and not listener._thread.is_alive()


def test_unreachable_server_is_retried_quietly(make_listener: Any, caplog: pytest.LogCaptureFixture) -> None:
    with JellyfinTestServer(JELLYFIN) as s:
        pass  # stopped: its port refuses
    listener = make_listener(s)
    assert wait_for(lambda: listener.attempts >= 3, timeout=5)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_playing_fingerprint() -> None:
    assert playing_fingerprint("x") is None
    assert playing_fingerprint([jp.idle_session(), 3, None]) == frozenset()
    a = jp.direct_play_remote(session_id="1", item=jp.media_item(item_id="i"))
    assert playing_fingerprint([a]) == frozenset({("1", "i", False)})
