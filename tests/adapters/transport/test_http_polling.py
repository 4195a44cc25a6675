"""The media servers' polling client: framing, keep-alive, caps and the deadline, on raw sockets.

The Plex adapter's own tests (tests/adapters/test_plex.py, test_http_deadline.py) run through this
client too: TLS, trickled heads and bodies, a gigabyte answer, TLS on the wrong side.
"""
from __future__ import annotations

import gzip
import struct
import time
import socket
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.transport.http import HttpTransportError
from adapters.transport.framing import ProtocolFailure, content_length, parse_head
from adapters.transport.polling import PollingClient
from tests.support.hostile_http import HostileServer, endless_body, run_bounded, trickle_body, trickle_head

TIMEOUT = 0.5


def client(server: HostileServer, cap: int = 1 << 20) -> PollingClient:
    return PollingClient(server.url, TIMEOUT, max_body_bytes=cap)


def raw(response: bytes, close: bool = False):
    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(response)
        if close:
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    return behave


def test_content_length_body_and_keep_alive() -> None:
    with HostileServer(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-Plex-Protocol: 1.0\r\n\r\nhello")) as server:
        polling = client(server)
        answers = [polling.get("/status/sessions", {"Accept": "application/json"}) for _ in range(3)]
    assert [a.body for a in answers] == [b"hello"] * 3
    assert answers[0].status == 200 and answers[0].headers["x-plex-protocol"] == "1.0"
    assert answers[0].headers["X-PLEX-PROTOCOL"] == "1.0"  # case-insensitive, like HttpClient's
    assert server.requests == 3


def test_chunked_body_with_extensions_and_trailers() -> None:
    body = b"4;ext=1\r\nhell\r\n1\r\no\r\n0\r\nX-Trailer: 1\r\n\r\n"
    with HostileServer(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)) as server:
        polling = client(server)
        assert polling.get("/", {}).body == b"hello"
        assert polling.get("/", {}).body == b"hello"  # the connection was left clean for reuse


def test_a_body_until_close_and_http_1_0() -> None:
    with HostileServer(raw(b"HTTP/1.0 200 OK\r\n\r\nuntil the end", close=True)) as server:
        polling = client(server)
        assert polling.get("/", {}).body == b"until the end"
        assert polling.get("/", {}).body == b"until the end"  # a new connection each time
    assert server.requests == 2


def test_an_interim_100_answer_is_skipped() -> None:
    with HostileServer(raw(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 404 Not Found\r\nContent-Length: 2\r\n\r\nno")) as server:
        answer = client(server).get("/", {})
    assert (answer.status, answer.body) == (404, b"no")


@pytest.mark.parametrize("encoding, encode", [("gzip", gzip.compress), ("deflate", zlib.compress)])
def test_gzip_and_deflate_bodies_are_decoded_within_the_cap(encoding, encode) -> None:
    packed = encode(b"x" * 10000)
    head = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (encoding.encode(), len(packed))
    with HostileServer(raw(head + packed)) as server:
        assert client(server).get("/", {}).body == b"x" * 10000
        capped = client(server, cap=100).get("/", {})
    assert capped.truncated and capped.body == b"x" * 100  # a small body that inflates is still capped


def test_a_kept_alive_connection_closed_while_idle_is_reopened_once() -> None:
    with HostileServer(raw(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", close=True)) as server:
        polling = client(server)
        polling.get("/", {})
        assert polling.get("/", {}).body == b"ok"  # the first try met the closed socket
    assert server.requests == 2


def test_a_body_over_the_cap_is_truncated_and_the_connection_dropped() -> None:
    with HostileServer(endless_body()) as server:
        answer = client(server, cap=1000).get("/", {})
    assert answer.truncated and len(answer.body) <= 1000


def test_a_chunked_body_over_the_cap_is_truncated() -> None:
    chunk = b"400\r\n" + b"y" * 1024 + b"\r\n"
    with HostileServer(raw(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + chunk * 10 + b"0\r\n\r\n")) as server:
        answer = client(server, cap=2000).get("/", {})
    assert answer.truncated and answer.body == b"y" * 2000


@pytest.mark.parametrize("behaviour", [trickle_head(0.05), trickle_body(content_length=2000, every_sec=0.05)])
def test_a_trickle_ends_at_the_deadline(behaviour) -> None:
    with HostileServer(behaviour) as server:
        error = run_bounded(lambda: client(server).get("/", {}), TIMEOUT + 1.0)
    assert isinstance(error, HttpTransportError)
    assert str(error) == "no complete answer within 0.5 s (timed out)"


@pytest.mark.parametrize("response, reason", [
    (b"SSH-2.0-OpenSSH\r\n\r\n", "not an HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", "not an HTTP answer"),
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", "not an HTTP answer"),
    (b"\x15\x03\x01\x00\x02\x02\x46", "the server speaks HTTPS on this port: use an https:// URL"),
])
def test_what_is_not_http_is_a_transport_error(response, reason) -> None:
    with HostileServer(raw(response, close=True)) as server:
        with pytest.raises(HttpTransportError) as caught:
            client(server).get("/", {})
    assert str(caught.value).startswith(reason)
    assert "127.0.0.1" not in str(caught.value)


def test_a_refused_connection_says_so() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(HttpTransportError, match="^connection refused$"):
        PollingClient("http://127.0.0.1:%d" % port, TIMEOUT).get("/", {})


def test_only_http_urls() -> None:
    with pytest.raises(ValueError):
        PollingClient("ftp://example", 1.0)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600))
def test_any_head_is_parsed_or_refused_cleanly(head: bytes) -> None:
    try:
        status, version, headers = parse_head(head)
    except ProtocolFailure:
        return
    assert 0 <= status <= 999 and version in ("HTTP/1.1", "HTTP/1.0")
    assert all(name == name.lower() and name for name in headers)
    try:
        length = content_length(headers)
    except ProtocolFailure:
        return
    assert length is None or length >= 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["Content-Length", "content-length", "X-A"]),
                          st.text(alphabet="0123456789 +-x", max_size=6)), max_size=4))
def test_content_length_is_one_plain_number_or_refused(pairs) -> None:
    head = ("HTTP/1.1 200 OK\r\n" + "".join("%s: %s\r\n" % p for p in pairs)).rstrip("\r\n").encode()
    try:
        length = content_length(parse_head(head)[2])
    except ProtocolFailure:
        return
    values = {v.strip() for n, v in pairs if n.lower() == "content-length"}
    assert length is None if not values else all(int(v) == length for v in values)


def test_a_path_with_a_space_or_beyond_ascii_is_percent_encoded() -> None:
    seen = []

    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with HostileServer(behave) as server:
        original = server._serve

        def serve(conn: socket.socket) -> None:
            data = conn.recv(4096, socket.MSG_PEEK)
            seen.append(data.split(b"\r\n", 1)[0])
            original(conn)

        server._serve = serve  # type: ignore[method-assign]
        assert client(server).get("/my plex/\u2192?x=1", {}).body == b"ok"
    assert seen == [b"GET /my%20plex/%E2%86%92?x=1 HTTP/1.1"]


def test_a_host_name_beyond_ascii_goes_as_idna_and_an_impossible_one_is_refused() -> None:
    assert PollingClient("http://b\u00fccher.example:32400", 1.0)._host_header == "xn--bcher-kva.example:32400"
    impossible = PollingClient("http://" + "a" * 64 + ".example", 1.0)  # a label over 63 characters
    with pytest.raises(HttpTransportError, match="^not a valid host name$"):
        impossible.get("/", {})


def test_a_reset_inside_a_body_without_length_is_a_failure_not_an_answer() -> None:
    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n{\"MediaContainer\": {")
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        conn.close()  # with linger 0: a reset

    with HostileServer(behave) as server:
        with pytest.raises(HttpTransportError, match="reset"):
            client(server).get("/", {})


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\nContent-Length: 12\n\nab\r\n\r\ncdefgh",
    b"HTTP/1.1 200 OK\r\nContent-Length: 12\n\r\nab\r\n\r\ncdefgh",
])
def test_bare_line_feeds_end_the_head_where_they_are(head: bytes) -> None:
    with HostileServer(raw(head)) as server:
        assert client(server).get("/", {}).body == b"ab\r\n\r\ncdefgh"


def test_stray_bytes_after_an_answer_do_not_spoil_the_next_poll() -> None:
    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n")
        time.sleep(0.05)
        conn.sendall(b"hello")  # a body a 304 must not have

    with HostileServer(behave) as server:
        polling = client(server)
        assert polling.get("/", {}).status == 304
        time.sleep(0.2)
        assert polling.get("/", {}).status == 304  # a fresh connection, not "hello" read as a head


def test_raw_deflate_and_two_gzip_members_and_a_broken_body() -> None:
    compressor = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    raw_deflate = compressor.compress(b"abc") + compressor.flush()
    two = gzip.compress(b"abc") + gzip.compress(b"def")
    cases = [(b"deflate", raw_deflate, b"abc"), (b"gzip", two, b"abcdef")]
    for encoding, packed, plain in cases:
        head = b"HTTP/1.1 200 OK\r\nContent-Encoding: %s\r\nContent-Length: %d\r\n\r\n" % (encoding, len(packed))
        with HostileServer(raw(head + packed)) as server:
            assert client(server).get("/", {}).body == plain
    with HostileServer(raw(b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 3\r\n\r\nxyz")) as server:
        with pytest.raises(HttpTransportError, match="^the compressed body could not be decoded$"):
            client(server).get("/", {})
