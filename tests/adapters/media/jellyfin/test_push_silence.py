"""A push channel that is up but says nothing: SilenceWatch's promises (hypothesis), and the listener's
`note_poll` / `silent` / `describe_health` against the Jellyfin stand-in, on an injected clock."""
from __future__ import annotations

import logging
import threading
from typing import Any, Iterator, List, Optional, Tuple

import pytest
from hypothesis import given, strategies as st

from adapters.media.jellyfin.events import JellyfinEventListener
from adapters.media.jellyfin.silence import SILENT_AFTER_KEEPALIVES, SilenceWatch
from adapters.media.jellyfin.source import EMBY, JELLYFIN
from tests.support import jellyfin_payloads as jp
from tests.support.clock import ManualClock
from tests.support.jellyfin_server import JellyfinTestServer
from tests.support.waiting import wait_until

times = st.floats(min_value=0, max_value=1e6, allow_nan=False)
events = st.lists(st.one_of(
    st.tuples(st.just("subscribed"), times),
    st.tuples(st.just("disconnected"), st.none()),
    st.tuples(st.just("keepalive"), st.floats(min_value=0.05, max_value=300)),
    st.tuples(st.just("heard"), st.none()),
    st.tuples(st.just("poll"), st.tuples(st.booleans(), times)),
), max_size=40)


@given(events)
def test_silent_only_after_unannounced_playback_past_the_grace_and_warned_once(steps: List[Tuple[str, Any]]) -> None:
    watch = SilenceWatch(keepalive_sec=30.0)
    subscribed_at: Optional[float] = None
    heard, keepalive, silent, warnings = False, 30.0, False, 0
    for kind, value in steps:
        if kind == "subscribed":
            watch.subscribed(value)
            subscribed_at, heard, keepalive = value, False, 30.0
        elif kind == "disconnected":
            watch.disconnected()
            subscribed_at = None
        elif kind == "keepalive":
            watch.keepalive_is(value)
            keepalive = value
        elif kind == "heard":
            assert watch.heard_sessions() == silent  # says when the channel came back
            heard, silent = True, False
        else:
            playing, now = value
            quiet_for = watch.poll_saw(playing, now)
            qualifies = (playing and not heard and subscribed_at is not None
                         and now - subscribed_at >= SILENT_AFTER_KEEPALIVES * keepalive)
            silent = silent or qualifies
            if quiet_for is not None:
                warnings += 1
                assert qualifies and quiet_for == now - subscribed_at
        assert watch.silent == silent
    assert warnings <= 1


triggered = threading.Event()  # set by the listeners' trigger (one test at a time)


@pytest.fixture(params=[JELLYFIN, EMBY], ids=["jellyfin", "emby"])
def server(request: Any) -> Iterator[JellyfinTestServer]:
    with JellyfinTestServer(request.param) as s:
        yield s


@pytest.fixture
def connected(server: JellyfinTestServer,
              caplog: pytest.LogCaptureFixture) -> Iterator[Tuple[JellyfinEventListener, ManualClock]]:
    caplog.set_level(logging.DEBUG)
    clock = ManualClock()
    triggered.clear()
    listener = JellyfinEventListener(server.kind, server.url, server.api_key, lambda reason: triggered.set(),
                                     timeout_sec=2.0, backoff_initial_sec=0.05, clock=clock)
    assert listener.describe_health() == "push starting"
    listener.start()
    try:
        assert wait_until(lambda: listener.connected)
        yield listener, clock
    finally:
        listener.stop()
    assert server.api_key not in caplog.text


def silence_warnings(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [r for r in caplog.records if "sent no Sessions message" in r.getMessage()]


def test_polled_playback_on_a_quiet_channel_makes_it_silent_once(
        connected: Tuple[JellyfinEventListener, ManualClock], server: JellyfinTestServer,
        caplog: pytest.LogCaptureFixture) -> None:
    listener, clock = connected
    grace = SILENT_AFTER_KEEPALIVES * 30  # the stand-in asks for a keep-alive every 60 s: we send one every 30
    listener.note_poll(True, clock.now + grace - 1)  # still within the grace
    listener.note_poll(False, clock.now + grace + 1)  # nothing plays: nothing to tell
    assert not listener.silent and listener.describe_health() == "push connected"
    listener.note_poll(True, clock.now + grace + 1)
    listener.note_poll(True, clock.now + grace + 60)
    assert listener.silent and listener.describe_health() == "push silent: polling only"
    warnings = silence_warnings(caplog)
    assert len(warnings) == 1 and warnings[0].levelno == logging.WARNING
    assert "API key" in warnings[0].getMessage() and "relying on polling" in warnings[0].getMessage()
    server.push_sessions([jp.direct_play_remote(session_id="s1")])  # the channel speaks after all
    assert wait_until(lambda: not listener.silent)
    assert listener.describe_health() == "push connected"
    assert "sends Sessions messages again" in caplog.text


def test_a_channel_that_announces_sessions_is_never_silent(
        connected: Tuple[JellyfinEventListener, ManualClock], server: JellyfinTestServer,
        caplog: pytest.LogCaptureFixture) -> None:
    listener, clock = connected
    server.push_sessions([jp.direct_play_remote(session_id="s1")])  # as a working server does on every change
    assert triggered.wait(5)
    listener.note_poll(True, clock.now + 10_000)
    assert not listener.silent and not silence_warnings(caplog)


def test_a_new_connection_starts_a_new_grace(connected: Tuple[JellyfinEventListener, ManualClock],
                                             server: JellyfinTestServer) -> None:
    listener, clock = connected
    clock.now += 500  # the next connection subscribes later
    server.drop_push_clients()
    assert wait_until(lambda: listener.attempts == 2 and listener.connected, timeout=5)
    listener.note_poll(True, clock.now + 60)
    assert not listener.silent
    listener.note_poll(True, clock.now + 91)
    assert listener.silent


def test_health_words_when_push_is_not_offered(server: JellyfinTestServer) -> None:
    server.push_status = 404
    listener = JellyfinEventListener(server.kind, server.url, server.api_key, lambda reason: None, timeout_sec=2.0)
    listener.start()
    try:
        assert wait_until(lambda: listener.available is False)
        assert listener.describe_health() == "push not offered: polling only"
    finally:
        listener.stop()
