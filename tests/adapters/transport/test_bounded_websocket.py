"""The bounded WebSocket connection (websocket-client underneath) against a scripted server on 127.0.0.1."""
from __future__ import annotations

import json
import socket
import struct
import threading
import time
from typing import Any, Callable, List

import pytest
from hypothesis import given, settings, strategies as st

from adapters.transport.bounded_websocket import open_websocket, url_for_log
from adapters.transport.bounded_websocket_frames import (
    ConnectionClosed, HandshakeRefused, MessageTooBig, WebSocketError, WebSocketLimits, WebSocketTimeout,
)
from tests.support import hostile_websocket as hostile
from tests.support.jellyfin_server import Request, ServerSide, WebSocketTestServer
from tests.support.plex_server import make_self_signed_cert
from tests.support.waiting import wait_until

FAST = WebSocketLimits(open_timeout_sec=5)


def serve(script: Callable[[ServerSide, Request], None], **kw: Any) -> WebSocketTestServer:
    return WebSocketTestServer(script, **kw)


def test_url_for_log_drops_query_and_userinfo() -> None:
    assert url_for_log("wss://u:pw@[::1]:8920/socket?ApiKey=secret") == "wss://[::1]:8920/socket"
    assert "secret" not in url_for_log("ws://host/embywebsocket?api_key=secret&deviceId=x")


def test_handshake_sends_the_required_headers_and_messages_flow() -> None:
    got: List[Any] = []

    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        frame = conn.recv_frame()
        got.append(frame)
        conn.send_text("echo:" + frame.payload.decode())
        conn.recv_frame()

    with serve(script) as server:
        ws = open_websocket(server.url + "?ApiKey=k", {"Authorization": 'MediaBrowser Token="k"'}, FAST)
        ws.send_text("hello")
        assert ws.recv(timeout=5) == "echo:hello"
        ws.close()
        request = server.requests[0]
    assert request.path == "/socket" and request.query == {"ApiKey": ["k"]}
    headers = request.headers
    assert headers["upgrade"].lower() == "websocket" and headers["connection"].lower() == "upgrade"
    assert headers["sec-websocket-version"] == "13" and len(headers["sec-websocket-key"]) == 24
    assert headers["authorization"] == 'MediaBrowser Token="k"' and "origin" not in headers
    assert got[0].masked and got[0].opcode == 0x1 and got[0].fin


def test_wrong_accept_is_refused() -> None:
    with serve(hostile.wrong_accept) as server:
        with pytest.raises(HandshakeRefused) as info:
            open_websocket(server.url, limits=FAST)
    assert "Sec-WebSocket-Accept" in str(info.value) and info.value.status is None


def test_a_non_101_answer_is_refused_with_its_status_and_no_url() -> None:
    def script(conn: ServerSide, request: Request) -> None:
        conn.send_raw(b"HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\ntopsecret")

    with serve(script) as server:
        with pytest.raises(HandshakeRefused) as info:
            open_websocket(server.url + "?api_key=topsecret", limits=FAST)
    assert info.value.status == 404 and "topsecret" not in str(info.value) and "127.0.0.1" not in str(info.value)


def test_a_redirect_is_not_followed() -> None:
    followed = threading.Event()
    with serve(lambda conn, request: followed.set()) as elsewhere:
        def script(conn: ServerSide, request: Request) -> None:
            conn.send_raw(("HTTP/1.1 302 Found\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % elsewhere.url).encode())

        with serve(script) as server:
            with pytest.raises(HandshakeRefused) as info:
                open_websocket(server.url, {"Authorization": "secret"}, FAST)
    assert info.value.status == 302 and not followed.is_set()


@pytest.mark.parametrize("answer", [
    b"HTTP/1.1 404 Not Found\r\nContent-Length: 2147483648\r\n\r\n",  # then a body for ever
    b"HTTP/1.1 101 Switching Protocols\r\n",  # then headers for ever
])
def test_an_endless_answer_is_refused_at_its_budget(answer: bytes) -> None:
    def script(conn: ServerSide, request: Request) -> None:
        conn.send_raw(answer)
        filler = b"X-Filler: " + b"f" * 1000 + b"\r\n"
        for _ in range(10_000):
            conn.send_raw(filler)

    with serve(script) as server:
        started = time.monotonic()
        with pytest.raises(HandshakeRefused) as info:
            open_websocket(server.url, limits=WebSocketLimits(open_timeout_sec=10))
    assert "over 65536 bytes" in str(info.value) and time.monotonic() - started < 2


def test_an_extension_we_did_not_offer_is_refused() -> None:
    with serve(lambda c, r: c.handshake(r, extra="Sec-WebSocket-Extensions: permessage-deflate\r\n")) as server:
        with pytest.raises(HandshakeRefused):
            open_websocket(server.url, limits=FAST)


def test_fragmented_message_is_reassembled_with_a_ping_in_between() -> None:
    pongs: List[Any] = []

    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        conn.send_frame(0x1, b'{"Message', fin=False)
        conn.send_frame(0x9, b"are you there")  # control frames may come between fragments
        conn.send_frame(0x0, b'Type":', fin=False)
        conn.send_frame(0x0, b'"Sessions"}', fin=True)
        pongs.append(conn.recv_frame())
        conn.recv_frame()

    with serve(script) as server:
        ws = open_websocket(server.url, limits=FAST)
        assert ws.recv(timeout=5) is None  # the ping, answered
        assert json.loads(ws.recv(timeout=5)) == {"MessageType": "Sessions"}
        assert wait_until(lambda: pongs)
        ws.close()
    assert pongs and pongs[0].opcode == 0xA and pongs[0].payload == b"are you there" and pongs[0].masked


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 200_000])
def test_extended_payload_lengths(size: int) -> None:
    text = "x" * size

    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        conn.send_text(text)
        echoed = conn.recv_frame()
        conn.send_text("len=%d masked=%s" % (len(echoed.payload), echoed.masked))
        conn.recv_frame()

    with serve(script) as server:
        ws = open_websocket(server.url, limits=FAST)
        assert ws.recv(timeout=5) == text
        ws.send_text(text)
        assert ws.recv(timeout=5) == "len=%d masked=True" % size
        ws.close()


def test_oversized_message_is_refused_from_its_header() -> None:
    closes: List[Any] = []

    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        conn.send_raw(struct.pack("!BBQ", 0x81, 127, 2 << 30))  # 2 GiB announced, nothing sent
        closes.append(conn.recv_frame())

    with serve(script) as server:
        ws = open_websocket(server.url, limits=WebSocketLimits(max_message_bytes=64 * 1024))
        started = time.monotonic()
        with pytest.raises(MessageTooBig):
            ws.recv(timeout=5)
        assert time.monotonic() - started < 1  # did not wait for the payload
        assert wait_until(lambda: closes)
    assert closes and closes[0] is not None and closes[0].opcode == 0x8
    assert struct.unpack("!H", closes[0].payload[:2])[0] == 1009


@pytest.mark.parametrize("limits, what", [
    (WebSocketLimits(max_message_bytes=100_000), "over 100000 bytes"),
    (WebSocketLimits(max_fragments=3), "over 3 fragments"),
])
def test_oversized_fragmented_message_is_refused(limits: WebSocketLimits, what: str) -> None:
    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        for n in range(5):
            conn.send_frame(0x1 if n == 0 else 0x0, b"y" * 30_000, fin=False)
        conn.recv_frame()

    with serve(script) as server:
        ws = open_websocket(server.url, limits=limits)
        with pytest.raises(MessageTooBig) as info:
            ws.recv(timeout=5)
    assert what in str(info.value)


def test_a_ping_flood_ends_the_connection() -> None:
    with serve(hostile.ping_flood) as server:
        ws = open_websocket(server.url, limits=WebSocketLimits(max_control_frames=50))
        answered = 0
        with pytest.raises(WebSocketError) as info:
            while True:
                assert ws.recv(timeout=5) is None
                answered += 1
    assert answered == 50 and "over 50 pings or pongs" in str(info.value)


def test_server_close_is_answered_and_reported() -> None:
    answers: List[Any] = []

    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        conn.send_frame(0x8, struct.pack("!H", 1001) + b"going away")
        answers.append(conn.recv_frame())

    with serve(script) as server:
        ws = open_websocket(server.url, limits=FAST)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=5)
        assert wait_until(lambda: answers)
    assert info.value.code == 1001
    assert answers[0].opcode == 0x8 and answers[0].payload[:2] == struct.pack("!H", 1000)


def test_dropped_connection_is_connection_closed() -> None:
    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        conn.send_frame(0x1, b"partial", fin=False)
        conn.close()

    with serve(script) as server:
        ws = open_websocket(server.url, limits=FAST)
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)


@pytest.mark.parametrize("frame, what", [
    (bytes([0x81 | 0x40, 0x01]) + b"x", "reserved bits"),
    (bytes([0x83, 0x01]) + b"x", "unknown opcode"),
    (bytes([0x8B, 0x7F]) + struct.pack("!Q", 2 << 30), "unknown opcode"),  # refused before 2 GiB are read
    (bytes([0x81, 0x81]) + b"\x01\x02\x03\x04" + b"x", "masked"),
    (bytes([0x09, 0x00]), "control frame"),
    (bytes([0x89, 0x7E, 0x00, 0x80]) + b"p" * 128, "control frame"),
    (bytes([0x80, 0x01]) + b"x", "breaks the protocol"),  # a continuation of nothing
    (bytes([0x81, 0x02]) + b"\xff\xfe", "UTF-8"),
])
def test_protocol_violations_fail_cleanly(frame: bytes, what: str) -> None:
    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        conn.send_raw(frame)
        conn.recv_frame()

    with serve(script) as server:
        ws = open_websocket(server.url, limits=FAST)
        with pytest.raises(WebSocketError) as info:
            ws.recv(timeout=5)
    assert what.lower() in str(info.value).lower()


@settings(max_examples=40, deadline=None)
@given(st.binary(min_size=1, max_size=64))
def test_any_bytes_from_the_server_end_in_a_message_or_a_plain_error(data: bytes) -> None:
    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        conn.send_raw(data)
        conn.close()

    with serve(script) as server:
        ws = open_websocket(server.url, limits=WebSocketLimits(max_message_bytes=1024))
        try:
            for _ in range(64):
                assert isinstance(ws.recv(timeout=2), (str, bytes, type(None)))
        except WebSocketError as exc:
            assert str(exc) and "127.0.0.1" not in str(exc)
        finally:
            ws.close()


def test_recv_timeout_keeps_a_partial_frame() -> None:
    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        data = conn.frame_bytes(0x1, b"split across a timeout")
        conn.send_raw(data[:5])
        time.sleep(0.4)
        conn.send_raw(data[5:])
        conn.recv_frame()

    with serve(script) as server:
        ws = open_websocket(server.url, limits=FAST)
        with pytest.raises(WebSocketTimeout):
            ws.recv(timeout=0.1)
        assert ws.recv(timeout=5) == "split across a timeout"
        ws.close()


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_a_trickling_handshake_is_bounded_by_the_deadline(secure: bool, tmp_path: Any) -> None:
    stop = threading.Event()

    def script(conn: ServerSide, request: Request) -> None:
        for byte in b"HTTP/1.1 101 Switching Protocols\r\nX-Slow: " + b"a" * 1000:
            if stop.is_set():
                return
            conn.send_raw(bytes([byte]))
            time.sleep(0.05)

    with serve(script, tls=make_self_signed_cert(str(tmp_path)) if secure else None) as server:
        started = time.monotonic()
        with pytest.raises(WebSocketError) as info:
            open_websocket(server.url, limits=WebSocketLimits(open_timeout_sec=0.5), verify_tls=False)
        elapsed = time.monotonic() - started
        stop.set()
    assert "timed out" in str(info.value)
    assert elapsed < 3  # the trickle alone would take 50 s


def test_a_silent_server_is_bounded_by_the_deadline() -> None:
    release = threading.Event()
    with serve(lambda conn, request: release.wait(10)) as server:
        with pytest.raises(WebSocketError) as info:
            open_websocket(server.url, limits=WebSocketLimits(open_timeout_sec=0.3))
        release.set()
    assert "timed out" in str(info.value)


def test_a_trickling_tls_negotiation_is_bounded_by_the_deadline() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def trickle() -> None:  # a 16 KiB TLS handshake record announced, then its bytes one at a time
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"\x16\x03\x03\x40\x00")
            while not stop.is_set():
                try:
                    conn.sendall(b"\x00")
                except OSError:
                    return
                stop.wait(0.05)

    threading.Thread(target=trickle, daemon=True).start()
    started = time.monotonic()
    with pytest.raises(WebSocketError) as info:
        open_websocket("wss://127.0.0.1:%d/socket" % listener.getsockname()[1],
                       limits=WebSocketLimits(open_timeout_sec=0.5), verify_tls=False)
    elapsed = time.monotonic() - started
    stop.set()
    listener.close()
    assert elapsed < 3 and "timed out" in str(info.value)


def test_connection_refused_is_plain() -> None:
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()
    with pytest.raises(WebSocketError) as info:
        open_websocket("ws://127.0.0.1:%d/socket?ApiKey=secret" % port, limits=FAST)
    assert str(info.value) == "connection refused"


def test_not_a_websocket_url() -> None:
    with pytest.raises(WebSocketError):
        open_websocket("ftp://127.0.0.1/x")


@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_shutdown_from_another_thread_wakes_recv(secure: bool, tmp_path: Any) -> None:
    release = threading.Event()

    def script(conn: ServerSide, request: Request) -> None:
        conn.handshake(request)
        release.wait(10)

    with serve(script, tls=make_self_signed_cert(str(tmp_path)) if secure else None) as server:
        ws = open_websocket(server.url, limits=FAST, verify_tls=False)
        threading.Timer(0.2, ws.shutdown).start()
        with pytest.raises(ConnectionClosed):
            ws.recv()
        release.set()


@pytest.fixture
def tls_cert(tmp_path: Any) -> Any:
    return make_self_signed_cert(str(tmp_path))


def _hello(conn: ServerSide, request: Request) -> None:
    conn.handshake(request)
    conn.send_text("over TLS")
    conn.recv_frame()


def test_wss_with_the_ca_file(tls_cert: Any) -> None:
    with serve(_hello, tls=tls_cert) as server:
        ws = open_websocket(server.url, limits=FAST, ca_file=tls_cert[0])
        assert ws.recv(timeout=5) == "over TLS"
        ws.close()


def test_wss_without_verification(tls_cert: Any) -> None:
    with serve(_hello, tls=tls_cert) as server:
        ws = open_websocket(server.url, limits=FAST, verify_tls=False)
        assert ws.recv(timeout=5) == "over TLS"
        ws.close()


def test_wss_untrusted_certificate_is_refused(tls_cert: Any) -> None:
    with serve(_hello, tls=tls_cert) as server:
        with pytest.raises(WebSocketError) as info:
            open_websocket(server.url, limits=FAST)
    assert "not trusted" in str(info.value)
