"""HttpClient (urllib3) hands over an answer only when it was read to its end and decoded completely.

Against raw-socket stand-ins that misbehave on purpose: every answer cut short, framed badly,
compressed and cut, or trailed without end is an HttpTransportError, never a shorter body. Also
what the media servers' polls rely on: keep-alive reuse, the size cap before and after decoding,
the deadline, and errors without the URL.
"""
from __future__ import annotations

import gzip
import socket
import struct
import time
import tracemalloc
import zlib

import pytest

from adapters.transport.http import HttpClient, HttpTransportError
from tests.support.hostile_http import (
    HostileServer, endless_body, endless_trailers, raw, run_bounded, trickle_body, trickle_head,
)

TIMEOUT = 0.5
OK = b"HTTP/1.1 200 OK\r\n"


def get(server: HostileServer, cap: int = 1 << 20, path: str = "/"):
    return HttpClient(TIMEOUT, max_body_bytes=cap).get(server.url + path)


def failure(server: HostileServer, cap: int = 1 << 20) -> HttpTransportError:
    error = run_bounded(lambda: get(server, cap), TIMEOUT + 5)
    assert isinstance(error, HttpTransportError), error
    assert "127.0.0.1" not in str(error)
    return error


def encoded(encoding: bytes, body: bytes, extra: bytes = b"") -> bytes:
    return OK + b"Content-Encoding: %s\r\nContent-Length: %d\r\n%s\r\n" % (encoding, len(body), extra) + body


PLAIN = b'{"MediaContainer": {"size": 2, "Metadata": [' + b'{"Player": {"state": "playing"}},' * 200 + b'{}]}}'
GZIP = gzip.compress(PLAIN)
DEFLATE = zlib.compress(PLAIN)
_raw_deflate = zlib.compressobj(wbits=-zlib.MAX_WBITS)
RAW_DEFLATE = _raw_deflate.compress(PLAIN) + _raw_deflate.flush()


# -- complete answers ------------------------------------------------------------------------------


def test_content_length_body_kept_alive_and_headers_case_insensitive() -> None:
    with HostileServer(raw(OK + b"Content-Length: 5\r\nX-Plex-Protocol: 1.0\r\n\r\nhello")) as server:
        client = HttpClient(TIMEOUT)
        answers = [client.get(server.url + "/status/sessions") for _ in range(3)]
    assert [a.body for a in answers] == [b"hello"] * 3
    assert answers[0].headers["x-plex-protocol"] == answers[0].headers["X-PLEX-PROTOCOL"] == "1.0"
    assert (server.requests, server.connections) == (3, 1)  # one kept-alive connection


def test_chunked_body_with_extensions_and_trailers_leaves_the_connection_clean() -> None:
    body = b"4;ext=1\r\nhell\r\n1\r\no\r\n0\r\nX-Trailer: 1\r\n\r\n"
    with HostileServer(raw(OK + b"Transfer-Encoding: chunked\r\n\r\n" + body)) as server:
        client = HttpClient(TIMEOUT)
        assert [client.get(server.url).body for _ in range(2)] == [b"hello"] * 2
    assert server.connections == 1


def test_a_body_until_close_and_http_1_0() -> None:
    with HostileServer(raw(b"HTTP/1.0 200 OK\r\n\r\nuntil the end", close=True)) as server:
        client = HttpClient(TIMEOUT)
        assert [client.get(server.url).body for _ in range(2)] == [b"until the end"] * 2
    assert server.connections == 2


def test_an_interim_100_answer_is_skipped() -> None:
    with HostileServer(raw(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")) as server:
        answer = get(server)
    assert (answer.status, answer.body) == (404, b"no")


@pytest.mark.parametrize("encoding, body, plain", [
    (b"gzip", GZIP, PLAIN), (b"x-gzip", GZIP, PLAIN), (b"deflate", DEFLATE, PLAIN), (b"deflate", RAW_DEFLATE, PLAIN),
    (b"GZIP", gzip.compress(b"a") + gzip.compress(b"b"), b"ab"),  # two members, one after the other
])
def test_gzip_and_deflate_bodies_are_decoded(encoding: bytes, body: bytes, plain: bytes) -> None:
    with HostileServer(raw(encoded(encoding, body))) as server:
        answer = get(server)
    assert (answer.body, answer.truncated) == (plain, False)


def test_a_small_body_that_inflates_is_capped_after_decoding() -> None:
    bomb = gzip.compress(b"x" * 10_000_000)  # about 10 KB: within the cap before decoding
    assert len(bomb) < 20_000
    with HostileServer(raw(encoded(b"gzip", bomb))) as server:
        tracemalloc.start()
        try:
            answer = get(server, cap=20_000)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert answer.truncated and answer.body == b"x" * 20_000
    assert peak < 1_000_000


# -- every incomplete answer is a failure ------------------------------------------------------------


@pytest.mark.parametrize("encoding, body", [(b"gzip", GZIP), (b"deflate", DEFLATE), (b"deflate", RAW_DEFLATE)])
@pytest.mark.parametrize("framing", ["content-length", "until-close", "chunked"])
def test_a_compressed_body_cut_before_its_end_is_a_failure(encoding: bytes, body: bytes, framing: str) -> None:
    cut = body[: len(body) // 2]
    if framing == "content-length":
        response, close = encoded(encoding, cut), False
    elif framing == "until-close":
        response, close = OK + b"Content-Encoding: %s\r\nConnection: close\r\n\r\n" % encoding + cut, True
    else:
        response = OK + b"Content-Encoding: %s\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (
            encoding, len(cut), cut)
        close = False
    with HostileServer(raw(response, close=close)) as server:
        assert str(failure(server)) == "the compressed answer was cut before its end"


def test_a_second_gzip_member_cut_short_is_a_failure_too() -> None:
    second = gzip.compress(b"more")
    with HostileServer(raw(encoded(b"gzip", GZIP + second[:-3]))) as server:
        assert str(failure(server)) == "the compressed answer was cut before its end"


def test_a_broken_compressed_body_and_an_unknown_coding_are_failures() -> None:
    with HostileServer(raw(encoded(b"gzip", b"xyz"))) as server:
        assert str(failure(server)) == "the compressed answer could not be decoded"
    with HostileServer(raw(encoded(b"br", b"\x0b\x02\x80hi\x03"))) as server:
        assert str(failure(server)) == "the answer is encoded as 'br', which plex-helper cannot read"


def test_a_body_shorter_than_its_content_length_is_a_failure() -> None:
    with HostileServer(raw(OK + b"Content-Length: 100\r\n\r\n" + PLAIN[:40], close=True)) as server:
        assert str(failure(server)) == "the answer ended before its end (connection closed mid-body)"


@pytest.mark.parametrize("body, reason", [
    (b"zz\r\nab\r\n0\r\n\r\n", "broken chunked framing (not an HTTP answer)"),
    (b"10\r\nab", "the answer ended before its end (connection closed mid-body)"),  # a chunk cut short
    (b"2\r\nab\r\n", "broken chunked framing (not an HTTP answer)"),  # closed where the last chunk belongs
])
def test_bad_chunked_framing_is_a_failure(body: bytes, reason: str) -> None:
    with HostileServer(raw(OK + b"Transfer-Encoding: chunked\r\n\r\n" + body, close=True)) as server:
        assert str(failure(server)) == reason


def test_endless_trailer_lines_end_at_the_deadline_in_bounded_memory() -> None:
    with HostileServer(endless_trailers()) as server:
        tracemalloc.start()
        started = time.monotonic()
        try:
            error = failure(server)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert str(error) == "no complete answer within 0.5 s (timed out)"  # not the "{}" before them
    assert time.monotonic() - started < TIMEOUT + 2
    assert peak < 2_000_000


def test_one_endless_trailer_line_is_refused_at_64_kib() -> None:
    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(OK + b"Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nX-T: ")
        while not server.stopping.is_set():
            conn.sendall(b"t" * 65536)

    with HostileServer(behave) as server:
        assert str(failure(server)) == "a header or trailer line over 64 KiB (not an HTTP answer)"


def test_a_reset_inside_a_body_without_length_is_a_failure_not_an_answer() -> None:
    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(OK + b"Connection: close\r\n\r\n{\"MediaContainer\": {")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # with linger 0: a reset

    with HostileServer(behave) as server:
        assert "reset" in str(failure(server))


@pytest.mark.parametrize("behaviour", [trickle_head(0.05), trickle_body(content_length=2000, every_sec=0.05)])
def test_a_trickle_ends_at_the_deadline(behaviour) -> None:
    with HostileServer(behaviour) as server:
        assert str(failure(server)) == "no complete answer within 0.5 s (timed out)"


@pytest.mark.parametrize("response, reason", [
    (b"SSH-2.0-OpenSSH\r\n\r\n", "connection closed by the server"),
    (OK + b"Content-Length: 1\r\nContent-Length: 2\r\n\r\nab", "a malformed header (not an HTTP answer)"),
    (b"\x15\x03\x01\x00\x02\x02\x46", "the server speaks HTTPS on this port: use an https:// URL"),
])
def test_what_is_not_http_is_a_transport_error(response: bytes, reason: str) -> None:
    with HostileServer(raw(response, close=True)) as server:
        assert str(failure(server)) == reason


# -- caps, keep-alive, addresses ---------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", [
    endless_body(),
    raw(OK + b"Transfer-Encoding: chunked\r\n\r\n" + (b"400\r\n" + b"y" * 1024 + b"\r\n") * 10 + b"0\r\n\r\n"),
])
def test_a_body_over_the_cap_is_truncated_and_its_connection_not_reused(behaviour) -> None:
    with HostileServer(behaviour) as server:
        client = HttpClient(TIMEOUT, max_body_bytes=2000)
        first = client.get(server.url)
        second = client.get(server.url)
    assert first.truncated and len(first.body) == 2000 and second.truncated
    assert server.connections == 2


def test_a_kept_alive_connection_closed_while_idle_is_reopened() -> None:
    with HostileServer(raw(OK + b"Content-Length: 2\r\n\r\nok", close=True)) as server:
        client = HttpClient(TIMEOUT)
        client.get(server.url)
        time.sleep(0.05)  # the FIN arrives, as it would between two polls
        assert client.get(server.url).body == b"ok"
    assert server.connections == 2


def test_a_connection_closed_as_the_request_left_is_tried_once_more() -> None:
    calls = []

    def close_the_second(conn: socket.socket, server: HostileServer) -> None:
        calls.append(1)
        if len(calls) == 2:  # read the request, answer nothing: as if closed while it travelled
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()
            return
        conn.sendall(OK + b"Content-Length: 2\r\n\r\nok")

    with HostileServer(close_the_second) as server:
        client = HttpClient(TIMEOUT)
        assert [client.get(server.url).body for _ in range(2)] == [b"ok", b"ok"]
    assert len(calls) == 3


def test_stray_bytes_after_an_answer_do_not_spoil_the_next_poll() -> None:
    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n")
        time.sleep(0.05)
        conn.sendall(b"hello")  # a body a 304 must not have

    with HostileServer(behave) as server:
        client = HttpClient(TIMEOUT)
        assert client.get(server.url).status == 304
        time.sleep(0.2)
        assert client.get(server.url).status == 304  # a fresh connection, not "hello" read as a head


def test_a_path_with_a_space_or_beyond_ascii_is_percent_encoded() -> None:
    seen = []

    with HostileServer(raw(OK + b"Content-Length: 2\r\n\r\nok")) as server:
        original = server._serve

        def serve(conn: socket.socket) -> None:
            seen.append(conn.recv(4096, socket.MSG_PEEK).split(b"\r\n", 1)[0])
            original(conn)

        server._serve = serve  # type: ignore[method-assign]
        assert get(server, path="/my plex/\u2192?x=1").body == b"ok"
    assert seen == [b"GET /my%20plex/%E2%86%92?x=1 HTTP/1.1"]


def test_a_refused_connection_and_an_impossible_host_say_so() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(HttpTransportError, match="^connection refused$"):
        HttpClient(TIMEOUT).get("http://127.0.0.1:%d/" % port)
    with pytest.raises(HttpTransportError) as caught:
        HttpClient(TIMEOUT).get("http://" + "a" * 64 + ".invalid/")  # a label over 63 characters
    assert "aaaa" not in str(caught.value)
