"""KeptConnection keeps HttpClient's guarantees on one kept-alive http.client connection: one deadline
for the whole exchange, a cap on the answer's size, complete answers only, a connection the server
had closed tried once more, nothing of a failed exchange carried into the next, no redirects.

The stand-in is tests/support/hostile_http.py: it trickles, declares a gigabyte, sends endless
trailers or cuts a body short, on 127.0.0.1.
"""
from __future__ import annotations

import socket
import time
import tracemalloc

import pytest

from adapters.transport.http import HttpTransportError
from adapters.transport.kept_connection import KeptConnection
from tests.support.hostile_http import (
    HostileServer, answer, endless_body, endless_trailers, raw, run_bounded, trickle_body, trickle_head,
)

DEADLINE = 0.5
BOUND = 10
CAP = 64 * 1024


def kept() -> KeptConnection:
    return KeptConnection(DEADLINE, CAP)


def test_answers_come_over_one_kept_alive_connection():
    with HostileServer(answer(200, b"<ok/>")) as server:
        connection = kept()
        bodies = [connection.request("GET", server.url + "/desc.xml", {}).body for _ in range(5)]
        connection.close()
    assert bodies == [b"<ok/>"] * 5
    assert server.requests == 5 and server.connections == 1


@pytest.mark.parametrize("behaviour", [trickle_head(), trickle_body(b"<a/>"), endless_trailers()],
                         ids=["head", "body", "trailers"])
def test_a_trickling_or_endless_answer_fails_within_the_deadline(behaviour):
    with HostileServer(behaviour) as server:
        started = time.monotonic()
        error = run_bounded(lambda: kept().request("POST", server.url + "/ctl", {}, b"<x/>"), BOUND)
        took = time.monotonic() - started
    assert isinstance(error, HttpTransportError), error
    assert str(error.reason) == "no complete answer within 0.5 s (timed out)"
    assert took < BOUND


def test_a_declared_gigabyte_is_refused_without_reading_it():
    with HostileServer(endless_body()) as server:
        tracemalloc.start()
        try:
            got = kept().request("GET", server.url + "/", {})
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert got.truncated and got.body == b""
    assert peak < 4 * CAP


def test_a_chunked_answer_is_read_to_the_cap_and_the_connection_dropped():
    chunk = b"8000\r\n" + b"x" * 0x8000 + b"\r\n"
    with HostileServer(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 4 + b"0\r\n\r\n")) as server:
        connection = kept()
        got = connection.request("GET", server.url + "/", {})
        again = connection.request("GET", server.url + "/", {})
    assert got.truncated and len(got.body) == CAP
    assert again.truncated and server.connections == 2  # the unread rest went with the first connection


def test_a_body_shorter_than_its_content_length_is_refused():
    with HostileServer(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n<short/>", close=True)) as server:
        with pytest.raises(HttpTransportError):
            kept().request("GET", server.url + "/", {})


def test_a_connection_the_server_closed_while_idle_is_tried_once_more():
    served = []

    def answer_then_close(conn: socket.socket, server: HostileServer) -> None:
        served.append(1)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n<a/>")
        conn.shutdown(socket.SHUT_RDWR)  # without saying Connection: close, as an idle router does
        conn.close()

    with HostileServer(answer_then_close) as server:
        connection = kept()
        first = connection.request("GET", server.url + "/", {})
        time.sleep(0.05)  # the close reaches the client before it asks again
        second = connection.request("GET", server.url + "/", {})
    assert first.body == second.body == b"<a/>"
    assert len(served) == 2 and server.connections == 2


def test_after_a_cut_exchange_the_next_one_starts_on_a_new_connection():
    calls = []

    def first_trickles_then_answers(conn: socket.socket, server: HostileServer) -> None:
        calls.append(1)
        (trickle_body() if len(calls) == 1 else answer(200, b"<b/>"))(conn, server)

    with HostileServer(first_trickles_then_answers) as server:
        connection = kept()
        assert isinstance(run_bounded(lambda: connection.request("GET", server.url + "/", {}), BOUND),
                          HttpTransportError)
        assert connection.request("GET", server.url + "/", {}).body == b"<b/>"
    assert server.connections == 2


def test_a_redirect_is_an_answer_not_followed():
    with HostileServer(answer(302, b"", b"Location: http://192.0.2.1/elsewhere\r\n")) as server:
        got = kept().request("GET", server.url + "/", {})
    assert got.status == 302 and server.requests == 1


def test_a_server_that_is_not_there_is_a_sentence():
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(HttpTransportError) as caught:
        kept().request("GET", "http://127.0.0.1:%d/" % port, {})
    assert "refused" in caught.value.reason


@pytest.mark.parametrize("url", ["ftp://router/x", "http:///nohost", "http://router:99999/"])
def test_an_unusable_url_is_refused_before_any_connection(url):
    with pytest.raises(HttpTransportError, match="not a valid http"):
        kept().request("GET", url, {})
