"""PlexEventListener against the local fake Plex's event stream, and its SSE parsing on its own."""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Iterator, List

import pytest

from adapters.media.plex.events import PlexEventListener, SseParser, is_playback_message
from tests.support.plex_payloads import playing_notification
from tests.support.plex_server import EVENTS_PATH, PlexTestServer
from tests.support.waiting import wait_until

LOGGER = "plex_helper.plex_events"



class Calls:
    """The on_playback callback: counts calls, and can be told to raise."""

    def __init__(self) -> None:
        self.count = 0
        self.raise_on: set = set()
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            self.count += 1
            number = self.count
        if number in self.raise_on:
            raise RuntimeError("callback bug")

    def wait_for(self, count: int, timeout: float = 5.0) -> bool:
        return wait_until(lambda: self.count >= count, timeout)


@pytest.fixture
def calls() -> Calls:
    return Calls()


@pytest.fixture
def make_listener(caplog: pytest.LogCaptureFixture, calls: Calls) -> Iterator[Callable[..., PlexEventListener]]:
    """Builds listeners with fast backoff; stops them after the test and checks no token was logged."""
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    made: List[PlexEventListener] = []
    tokens: List[str] = []

    def make(server: PlexTestServer, start: bool = True, **kw: Any) -> PlexEventListener:
        kw.setdefault("timeout_sec", 2.0)
        kw.setdefault("backoff_initial_sec", 0.05)
        kw.setdefault("backoff_max_sec", 0.2)
        token = kw.pop("token", server.token)
        tokens.append(token)
        listener = PlexEventListener(server.url, token, calls, **kw)
        made.append(listener)
        if start:
            listener.start()
        return listener

    yield make
    for listener in made:
        listener.stop()
    assert not [t for t in threading.enumerate() if t.name == "plex-events"]
    for token in tokens:
        assert token not in caplog.text


def connected(server: PlexTestServer, listener: PlexEventListener) -> None:
    assert server.wait_for_sse_clients(1), "the listener never connected"
    assert wait_until(lambda: listener.connected)


def records(caplog: pytest.LogCaptureFixture, level: int, text: str) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == level and text in r.getMessage()]


# -- events --------------------------------------------------------------------------------------
def test_a_playing_event_calls_back_once(plex_server: PlexTestServer, make_listener: Any, calls: Calls) -> None:
    listener = make_listener(plex_server)
    connected(plex_server, listener)
    assert listener.available is True
    plex_server.emit_playing_event()
    assert calls.wait_for(1)
    time.sleep(0.2)
    assert calls.count == 1


def test_a_burst_gives_one_call_per_message(plex_server: PlexTestServer, make_listener: Any, calls: Calls) -> None:
    connected(plex_server, make_listener(plex_server))
    for offset in range(25):
        plex_server.emit_playing_event(view_offset=offset)
    assert calls.wait_for(25)
    time.sleep(0.2)
    assert calls.count == 25


@pytest.mark.parametrize("state", ["playing", "paused", "stopped", "buffering"])
def test_every_state_triggers_even_without_session_key(
    plex_server: PlexTestServer, make_listener: Any, calls: Calls, state: str
) -> None:
    connected(plex_server, make_listener(plex_server))
    plex_server.emit_playing_event(state=state)
    plex_server.emit_playing_event(state=state, session_key=None)
    assert calls.wait_for(2)


def test_pings_and_other_messages_are_ignored(plex_server: PlexTestServer, make_listener: Any, calls: Calls) -> None:
    connected(plex_server, make_listener(plex_server))
    plex_server.send_ping()
    plex_server.emit({"NotificationContainer": {"type": "activity", "size": 1, "ActivityNotification": [{}]}})
    plex_server.emit({"NotificationContainer": {"type": "playing", "size": 0, "PlaySessionStateNotification": []}})
    plex_server.emit_raw(b"data: not json\n\n")
    plex_server.emit_raw(b"event: ping\ndata: %s\n\n" % json.dumps(playing_notification()).encode())
    plex_server.emit_playing_event()  # same stream, so it arrives after all of the above
    assert calls.wait_for(1)
    time.sleep(0.2)
    assert calls.count == 1


def test_multi_line_data_comments_and_split_writes(plex_server: PlexTestServer, make_listener: Any,
                                                   calls: Calls) -> None:
    connected(plex_server, make_listener(plex_server))
    body = json.dumps(playing_notification(state="paused"), indent=1).splitlines()
    event = ": a comment\r\nevent: playing\r\nid: 7\r\n" + "".join("data:%s\r\n" % line for line in body) + "\r\n"
    raw = event.encode("utf-8")
    for cut in (1, 20, len(raw) - 2, len(raw) - 1):  # CRLF split across writes too
        plex_server.emit_raw(raw[:cut])
        time.sleep(0.02)
        plex_server.emit_raw(raw[cut:])
    assert calls.wait_for(4)
    time.sleep(0.2)
    assert calls.count == 4


def test_token_only_in_the_header(plex_server: PlexTestServer, make_listener: Any) -> None:
    connected(plex_server, make_listener(plex_server, client_identifier="pid-1", product_version="1.2.3"))
    request = [r for r in plex_server.requests if r.path == EVENTS_PATH][-1]
    assert plex_server.token not in request.target
    assert request.target == EVENTS_PATH + "?filters=playing"
    assert request.headers["X-Plex-Token"] == plex_server.token
    assert request.headers["Accept"] == "text/event-stream"
    assert request.headers["X-Plex-Client-Identifier"] == "pid-1"
    assert request.headers["X-Plex-Version"] == "1.2.3"
    assert request.headers["X-Plex-Product"] == "plex-helper"


def test_a_callback_that_raises_does_not_stop_the_listener(
    plex_server: PlexTestServer, make_listener: Any, calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    calls.raise_on = {1, 2}
    listener = make_listener(plex_server)
    connected(plex_server, listener)
    for _ in range(3):
        plex_server.emit_playing_event()
    assert calls.wait_for(3)
    assert len(records(caplog, logging.WARNING, "handler failed")) == 2
    assert listener.connected and plex_server.request_count[EVENTS_PATH] == 1


# -- reconnecting --------------------------------------------------------------------------------
def test_reconnects_after_the_stream_is_dropped(plex_server: PlexTestServer, make_listener: Any, calls: Calls,
                                                caplog: pytest.LogCaptureFixture) -> None:
    listener = make_listener(plex_server)
    for round_ in range(1, 4):
        connected(plex_server, listener)
        plex_server.emit_playing_event()
        assert calls.wait_for(round_)
        assert plex_server.drop_sse_clients() == 1
        assert wait_until(lambda: plex_server.request_count[EVENTS_PATH] == round_ + 1)
    assert len(records(caplog, logging.INFO, "Plex event stream lost; reconnecting")) == 3
    assert listener.available is True


def test_reconnects_quietly_after_a_restart(plex_server: PlexTestServer, make_listener: Any, calls: Calls,
                                            caplog: pytest.LogCaptureFixture) -> None:
    listener = make_listener(plex_server)
    connected(plex_server, listener)
    plex_server.restart(down_sec=0.8)  # several refused attempts meanwhile
    connected(plex_server, listener)
    plex_server.emit_playing_event()
    assert calls.wait_for(1)
    assert len(records(caplog, logging.INFO, "lost")) == 1
    assert records(caplog, logging.DEBUG, "connection refused")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_5xx_is_retried_with_backoff(plex_server: PlexTestServer, make_listener: Any, calls: Calls,
                                     caplog: pytest.LogCaptureFixture) -> None:
    plex_server.set_events_answer(503)
    listener = make_listener(plex_server, backoff_initial_sec=0.02, backoff_max_sec=0.16)
    assert wait_until(lambda: plex_server.request_count[EVENTS_PATH] >= 5)
    assert listener.available is None and not listener.connected
    assert not [r for r in caplog.records if r.levelno >= logging.INFO]
    plex_server.set_events_streaming()
    connected(plex_server, listener)
    plex_server.emit_playing_event()
    assert calls.wait_for(1)


def test_a_silent_connection_counts_as_dead(plex_server: PlexTestServer, make_listener: Any) -> None:
    listener = make_listener(plex_server, start=False)
    listener.idle_timeout_sec = 0.3  # the fake pings every 10 s, so nothing arrives meanwhile
    listener.start()
    assert wait_until(lambda: plex_server.request_count[EVENTS_PATH] >= 3)


def test_an_endless_line_is_dropped_and_the_stream_reopened(plex_server: PlexTestServer, make_listener: Any,
                                                             calls: Calls) -> None:
    listener = make_listener(plex_server)
    connected(plex_server, listener)
    plex_server.emit_raw(b"data: " + b"x" * (1024 * 1024 + 10))
    assert wait_until(lambda: plex_server.request_count[EVENTS_PATH] == 2)
    connected(plex_server, listener)
    plex_server.emit_playing_event()
    assert calls.wait_for(1)


def test_plex_down_at_start_is_quiet(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)
    down = PlexTestServer().start()
    down_url = down.url
    down.stop()  # its port now refuses connections
    listener = PlexEventListener(down_url, down.token, lambda: None, backoff_initial_sec=0.02,
                                 backoff_max_sec=0.05)
    listener.start()
    try:
        assert wait_until(lambda: len(records(caplog, logging.DEBUG, "connection refused")) >= 3)
        assert listener.available is None and not listener.connected
        assert not [r for r in caplog.records if r.levelno >= logging.INFO]
    finally:
        listener.stop()


# -- servers without the event stream ------------------------------------------------------------
@pytest.mark.parametrize("answer", [(404, "text/html", None), (200, "text/html", b"<html><body>Hi</body></html>"),
                                    (200, "application/json", b"{}")])
def test_no_event_stream_is_noted_once_and_not_retried(
    plex_server: PlexTestServer, make_listener: Any, caplog: pytest.LogCaptureFixture, answer: Any
) -> None:
    plex_server.set_events_answer(*answer)
    listener = make_listener(plex_server)
    assert wait_until(lambda: listener.available is False)
    time.sleep(0.5)  # a few backoff periods
    assert plex_server.request_count[EVENTS_PATH] == 1
    notes = records(caplog, logging.INFO, "does not offer the event stream at %s" % plex_server.url)
    assert len(notes) == 1 and "relying on polling" in notes[0].getMessage()
    assert len([r for r in caplog.records if r.levelno >= logging.INFO]) == 1
    assert not listener.connected


def test_a_rejected_token_warns_once_and_retries_slowly(
    plex_server: PlexTestServer, make_listener: Any, caplog: pytest.LogCaptureFixture
) -> None:
    listener = make_listener(plex_server, token="wrong-token-123", backoff_initial_sec=0.01, backoff_max_sec=0.3)
    assert wait_until(lambda: plex_server.request_count[EVENTS_PATH] >= 3)
    assert len(records(caplog, logging.WARNING, "rejected the token")) == 1
    assert listener.available is None
    time.sleep(0.5)
    assert plex_server.request_count[EVENTS_PATH] <= 6  # backoff max (0.3 s), not backoff initial


# -- stopping ------------------------------------------------------------------------------------
def test_stop_is_prompt_while_connected_and_idempotent(plex_server: PlexTestServer, make_listener: Any) -> None:
    listener = make_listener(plex_server)
    connected(plex_server, listener)
    started = time.monotonic()
    listener.stop()
    assert time.monotonic() - started < 1.0
    assert not [t for t in threading.enumerate() if t.name == "plex-events"]
    assert not listener.connected or wait_until(lambda: not listener.connected, 1.0)
    listener.stop()
    assert wait_until(lambda: plex_server.sse_client_count == 0)


def test_stop_before_start_and_during_backoff(plex_server: PlexTestServer, make_listener: Any) -> None:
    make_listener(plex_server, start=False).stop()
    plex_server.set_events_answer(503)
    listener = make_listener(plex_server, backoff_initial_sec=30.0, backoff_max_sec=60.0)
    assert wait_until(lambda: plex_server.request_count[EVENTS_PATH] == 1)
    started = time.monotonic()
    listener.stop()
    assert time.monotonic() - started < 1.0


def test_over_tls_with_a_ca_file(plex_tls_server: PlexTestServer, make_listener: Any, calls: Calls) -> None:
    listener = make_listener(plex_tls_server, ca_file=plex_tls_server.tls[0])
    connected(plex_tls_server, listener)
    plex_tls_server.emit_playing_event()
    assert calls.wait_for(1)
    started = time.monotonic()
    listener.stop()
    assert time.monotonic() - started < 1.0


# -- parsing on its own --------------------------------------------------------------------------
def test_parser_handles_any_split_and_line_ending() -> None:
    stream = b": hi\nevent: playing\ndata: a\ndata:b\r\n\r\ndata: c\r\rdata\n\nevent: x\nretry: 5\n\n"
    expected = [("playing", "a\nb"), ("message", "c"), ("message", "")]
    assert SseParser().feed(stream) == expected
    for cut in range(len(stream)):
        parser = SseParser()
        assert parser.feed(stream[:cut]) + parser.feed(stream[cut:]) == expected
    parser = SseParser()
    assert [e for b in stream for e in parser.feed(bytes([b]))] == expected


def test_parser_refuses_endless_lines() -> None:
    with pytest.raises(ValueError):
        SseParser().feed(b"data: " + b"x" * (2 * 1024 * 1024))


def test_what_counts_as_a_playback_message() -> None:
    entry = {"sessionKey": "1", "state": "playing"}
    assert is_playback_message(json.dumps(playing_notification()))
    assert is_playback_message(json.dumps({"PlaySessionStateNotification": entry}))  # bare, single object
    assert is_playback_message(json.dumps({"NotificationContainer": {"PlaySessionStateNotification": [entry]}}))
    assert not is_playback_message("{}")
    assert not is_playback_message("[1]")
    assert not is_playback_message("nope")
    assert not is_playback_message(json.dumps({"NotificationContainer": {"type": "activity",
                                                                         "PlaySessionStateNotification": [entry]}}))


def test_the_url_and_token_are_checked_like_polling() -> None:
    with pytest.raises(ValueError):
        PlexEventListener("ftp://plex", "t", lambda: None)
    with pytest.raises(ValueError):
        PlexEventListener("http://plex:32400", "bad token", lambda: None)
    listener = PlexEventListener("http://user:pw@plex:32400/?X-Plex-Token=x", "t", lambda: None)
    assert listener.url == "http://plex:32400"
    listener.stop()
