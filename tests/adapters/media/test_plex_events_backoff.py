"""Junk on the event stream does not reset the reconnect backoff: only a complete, valid event does.
A stream that keeps sending an oversized line (or anything else that is no event) and closing is
retried ever more slowly, and its loss is logged once, then at DEBUG until a valid event arrives."""
from __future__ import annotations

import logging
import re
from typing import Any, List

import pytest

from tests.adapters.media.test_plex_events import LOGGER, Calls, calls, connected, make_listener, records  # noqa: F401
from tests.support.plex_server import EVENTS_PATH, PlexTestServer
from tests.support.waiting import wait_until

OVERSIZED = b"data: " + b"x" * (1024 * 1024 + 10)  # one line over the listener's cap


def next_attempt_delays(caplog: pytest.LogCaptureFixture) -> List[float]:
    delays = []
    for record in records(caplog, logging.DEBUG, "next attempt in"):
        delays.append(float(re.search(r"next attempt in ([0-9.e+-]+) s", record.getMessage()).group(1)))
    return delays


def lost_lines(caplog: pytest.LogCaptureFixture) -> List[logging.LogRecord]:
    return [r for r in caplog.records if r.name == LOGGER and r.levelno >= logging.INFO and "lost" in r.getMessage()]


@pytest.mark.parametrize("junk", [
    OVERSIZED,
    b"data: not json\n\n" * 3,  # complete SSE events whose data is no JSON message
    b": only comments\n" * 10,
    b"x" * 5000,  # bytes with no line end, then the stream closes
])
def test_junk_then_close_backs_off_and_is_logged_once(plex_server: PlexTestServer, make_listener: Any,
                                                      caplog: pytest.LogCaptureFixture, junk: bytes) -> None:
    plex_server.set_events_answer(200, "text/event-stream", junk)  # every connection: junk, then the end
    listener = make_listener(plex_server, backoff_initial_sec=0.01, backoff_max_sec=0.32)
    assert wait_until(lambda: len(next_attempt_delays(caplog)) >= 6, timeout=10)
    delays = next_attempt_delays(caplog)[:6]
    assert delays == sorted(delays) and delays[-1] > delays[0] * 8, delays  # it grows; junk never resets it
    assert len(lost_lines(caplog)) == 1
    assert plex_server.request_count[EVENTS_PATH] >= 6
    listener.stop()


def test_a_valid_event_resets_the_backoff_and_the_next_loss_is_logged_again(
    plex_server: PlexTestServer, make_listener: Any, calls: Calls, caplog: pytest.LogCaptureFixture
) -> None:
    plex_server.set_events_answer(200, "text/event-stream", OVERSIZED)
    listener = make_listener(plex_server, backoff_initial_sec=0.01, backoff_max_sec=0.16)
    assert wait_until(lambda: len(next_attempt_delays(caplog)) >= 5, timeout=10)
    assert len(lost_lines(caplog)) == 1
    plex_server.set_events_streaming()
    connected(plex_server, listener)
    plex_server.emit_playing_event()  # a valid event: the stream works again
    assert calls.wait_for(1)
    caplog.clear()
    assert plex_server.drop_sse_clients() == 1
    assert wait_until(lambda: next_attempt_delays(caplog), timeout=5)
    assert next_attempt_delays(caplog)[0] == pytest.approx(0.01)
    assert len(lost_lines(caplog)) == 1


def test_a_ping_counts_as_a_valid_event(plex_server: PlexTestServer, make_listener: Any,
                                        caplog: pytest.LogCaptureFixture) -> None:
    plex_server.set_events_answer(200, "text/event-stream", OVERSIZED)
    listener = make_listener(plex_server, backoff_initial_sec=0.01, backoff_max_sec=0.16)
    assert wait_until(lambda: len(next_attempt_delays(caplog)) >= 5, timeout=10)
    plex_server.set_events_streaming()
    connected(plex_server, listener)
    plex_server.send_ping()
    assert wait_until(lambda: records(caplog, logging.DEBUG, "events arrive"), timeout=5)
    caplog.clear()
    plex_server.drop_sse_clients()
    assert wait_until(lambda: next_attempt_delays(caplog), timeout=5)
    assert next_attempt_delays(caplog)[0] == pytest.approx(0.01)
