"""The status server against hostile clients, through raw sockets on 127.0.0.1: trickled heads,
one address holding every slot, malformed lengths, oversized heads and deeply nested bodies.

Every malformed request gets an answer (or, for a head that never completes, a closed connection),
and none of them logs a traceback."""
from __future__ import annotations

import json
import logging
import socket
import threading
import time
from typing import Iterator, List

import pytest

from tests.adapters.status.test_status_server import (  # noqa: F401 - fixtures
    TOKEN,
    FakeBackend,
    backend,
    make_server,
    plex_multipart,
    plex_payload,
    raw_connection,
    read_response,
)
from tests.support.waiting import wait_until

OTHER_ADDRESS = "127.0.0.2"  # on Linux the whole 127/8 is loopback: a second client address


def no_traceback_logged(caplog: pytest.LogCaptureFixture) -> None:
    ours = [r for r in caplog.records if r.name.startswith("plex_helper")]
    assert not [r for r in ours if r.exc_info], [r.getMessage() for r in ours if r.exc_info]
    assert not [r for r in ours if r.levelno >= logging.ERROR], [r.getMessage() for r in ours]


@pytest.fixture(autouse=True)
def debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


def exchange(server, raw: bytes) -> tuple:
    with raw_connection(server) as sock:
        sock.settimeout(5)
        try:
            sock.sendall(raw)
        except OSError:  # the server may answer and close before it has read everything
            pass
        return read_response(sock)


def closed_within(sock: socket.socket, seconds: float) -> bool:
    """True when the server closes (or answers and closes) the connection within `seconds`."""
    sock.settimeout(seconds)
    end = time.monotonic() + seconds
    try:
        while time.monotonic() < end:
            if not sock.recv(65536):
                return True
    except ConnectionResetError:
        return True
    except (socket.timeout, TimeoutError):
        return False
    return False


class Trickler:
    """Sockets that each send a request head one byte at a time, never finishing it."""

    def __init__(self, server, count: int, every_sec: float, source: str = "127.0.0.1") -> None:
        self.sockets: List[socket.socket] = []
        for _ in range(count):
            self.sockets.append(socket.create_connection(server.address, timeout=5, source_address=(source, 0)))
        self._stop = threading.Event()
        self._every = every_sec
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> "Trickler":
        for sock in self.sockets:
            sock.sendall(b"GET /health HTTP/1.1\r\n")
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.wait(self._every):
            for sock in self.sockets:
                try:
                    sock.send(b"X")  # one header byte: the connection never goes quiet
                except OSError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for sock in self.sockets:
            sock.close()


@pytest.fixture
def tricklers() -> Iterator[list]:
    made: list = []
    yield made
    for trickler in made:
        trickler.close()


def other_address_available() -> bool:
    try:
        with socket.socket() as sock:
            sock.bind((OTHER_ADDRESS, 0))
        return True
    except OSError:
        return False


def get_health_from(server, source: str) -> int:
    with socket.create_connection(server.address, timeout=5, source_address=(source, 0)) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        return read_response(sock)[0]


# --- item 5: the request head has one deadline, and one address cannot take every slot -------------


def test_a_trickled_head_is_cut_at_one_overall_deadline(make_server, tricklers, caplog):
    # each byte comes well within the read timeout, so only an overall deadline ends it
    server = make_server(read_timeout_sec=2.0, head_deadline_sec=0.6)
    trickler = Trickler(server, 1, every_sec=0.1).start()
    tricklers.append(trickler)
    assert closed_within(trickler.sockets[0], 5.0), "a head trickled byte by byte held its thread"
    no_traceback_logged(caplog)


def test_a_slow_but_complete_head_within_the_deadline_is_served(make_server):
    server = make_server(read_timeout_sec=2.0, head_deadline_sec=3.0)
    with raw_connection(server) as sock:
        for piece in (b"GET /health HT", b"TP/1.1\r\nHo", b"st: 127.0.0.1\r\n", b"\r\n"):
            sock.sendall(piece)
            time.sleep(0.05)
        assert read_response(sock)[0] == 200


def test_keep_alive_requests_each_get_a_fresh_head_deadline(make_server):
    server = make_server(read_timeout_sec=2.0, head_deadline_sec=0.8)
    with raw_connection(server) as sock:
        for _ in range(3):
            time.sleep(0.5)  # idle between requests: the deadline counts from the wait for each head
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert read_response(sock)[0] == 200


@pytest.mark.skipif(not other_address_available(), reason="no second loopback address here")
def test_one_address_trickling_cannot_lock_others_out(make_server, tricklers, caplog):
    server = make_server(max_connections=12, max_connections_per_address=4, read_timeout_sec=5.0,
                         head_deadline_sec=30.0)
    tricklers.append(Trickler(server, 12, every_sec=0.2).start())  # 12 slots' worth from one address
    time.sleep(0.3)
    for _ in range(3):
        assert get_health_from(server, OTHER_ADDRESS) == 200
    # the address over its share is refused at once, with the reason
    with raw_connection(server) as sock:
        status, _, body = read_response(sock)
    assert status == 503 and b"too many connections" in body
    no_traceback_logged(caplog)


def test_the_per_address_cap_frees_up_when_connections_end(make_server):
    server = make_server(max_connections_per_address=2)
    held = [raw_connection(server) for _ in range(2)]
    for sock in held:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200
    with raw_connection(server) as sock:
        assert read_response(sock)[0] == 503
    for sock in held:
        sock.close()

    def health() -> int:
        with raw_connection(server) as sock:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return read_response(sock)[0]

    assert wait_until(lambda: health() == 200)


# --- item 6: lengths, oversized heads, nesting -----------------------------------------------------


@pytest.mark.parametrize("length", [
    b"\xb9",  # superscript one: str.isdigit() says yes, int() says no
    b"\xb2\xb3",
    b"1" * 4301,  # more digits than int() accepts
    b"12345678901",  # 11 digits
    b"-1", b"+5", b"0x10", b"1 2", b"1_000", b"",
])
def test_a_content_length_that_is_not_1_to_10_ascii_digits_is_400(make_server, backend, caplog, length):
    server = make_server(token=TOKEN)  # also without the token: nothing reaches the handler's guts
    status, headers, body = exchange(
        server, b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                b"Content-Length: " + length + b"\r\n\r\n{}")
    assert status == 400, body
    assert "Content-Length" in json.loads(body)["error"]
    assert headers["connection"] == "close"
    assert backend.triggers == []
    no_traceback_logged(caplog)


def test_two_content_lengths_are_400(make_server, caplog):
    server = make_server()
    status, _, body = exchange(server, b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n"
                                       b"Content-Length: 20\r\n\r\n{}")
    assert status == 400
    no_traceback_logged(caplog)


def test_a_ten_digit_content_length_is_read_as_a_number(make_server, caplog):
    server = make_server()
    status, _, body = exchange(server, b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0000000002\r\n"
                                       b"Content-Type: application/json\r\n\r\n{}")
    assert status == 400 and b"has no 'event'" in body  # the body was read: 2 bytes


@pytest.mark.parametrize("head, status", [
    (b"GET /health?" + b"a" * 70000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n", 414),  # http.server's cap: 64 KiB
    (b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Long: " + b"a" * 9000 + b"\r\n\r\n", 431),
    (b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: %s\r\n" % (i, b"a" * 7000) for i in range(6)) + b"\r\n", 431),
    (b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: a\r\n" % i for i in range(101)) + b"\r\n", 431),
    # 13,000 parameters: refused from its length, before anything parses it
    (b"POST /webhook HTTP/1.1\r\nContent-Length: 2\r\nContent-Type: multipart/form-data; boundary=b"
     + b"; a=b" * 13000 + b"\r\n\r\n{}", 431),
])
def test_oversized_heads_are_refused_before_parsing(make_server, caplog, head, status):
    server = make_server()
    got, headers, body = exchange(server, head)
    assert got == status, body
    assert headers["connection"] == "close"
    assert "error" in json.loads(body)
    no_traceback_logged(caplog)
    with raw_connection(server) as sock:  # and the server carries on
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        assert read_response(sock)[0] == 200


def test_a_request_line_within_the_stdlib_cap_is_served(make_server):
    server = make_server()
    status, _, _ = exchange(server, b"GET /health?" + b"a" * 60000 + b" HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
    assert status == 200


def test_a_line_that_is_not_a_header_cannot_hide_the_headers_after_it(make_server, backend, caplog):
    # the email parser would take it, and the Transfer-Encoding after it, for a body: framing unknown
    server = make_server()
    status, headers, body = exchange(
        server, b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nnot a header\r\nTransfer-Encoding: chunked\r\n\r\n"
                b"14\r\n{\"event\": \"media.play\"}\r\n0\r\n\r\n")
    assert status == 400 and "malformed request headers" in json.loads(body)["error"]
    assert headers["connection"] == "close"
    assert backend.triggers == []
    no_traceback_logged(caplog)


def test_a_chunked_body_announced_with_expect_100_is_refused_before_it_is_sent(make_server):
    server = make_server()
    with raw_connection(server) as sock:
        sock.sendall(b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
                     b"Expect: 100-continue\r\n\r\n")
        status, headers, body = read_response(sock)
    assert status == 411 and "Content-Length" in json.loads(body)["error"]
    assert headers["connection"] == "close"


def test_an_early_answer_reads_a_small_body_and_keeps_the_connection(make_server, backend):
    server = make_server(token=TOKEN)
    with raw_connection(server) as sock:
        sock.sendall(b"POST /override HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
        status, headers, _ = read_response(sock)
        assert status == 401 and "connection" not in headers
        sock.sendall(b"POST /nowhere HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 2\r\n\r\n{}")
        assert read_response(sock)[0] == 404
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")  # still in step
        assert read_response(sock)[0] == 200
    assert backend.overrides == []


def test_many_content_type_parameters_within_the_caps_still_work(make_server, backend):
    server = make_server()
    body, headers = plex_multipart(plex_payload("media.play"), with_thumb=False)
    content_type = headers["Content-Type"] + "; a=b" * 1500  # about 7.5 KiB
    status, _, answer = exchange(server, b"POST /webhook HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\n"
                                         b"Content-Length: %d\r\n\r\n" % (content_type.encode(), len(body)) + body)
    assert status == 200, answer
    assert backend.triggers == ["plex webhook media.play"]


def post(server, path: str, content_type: str, body: bytes) -> tuple:
    return exchange(server, b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n"
                    % (path.encode(), content_type.encode(), len(body)) + body)


@pytest.mark.parametrize("path", ["/webhook", "/override"])
@pytest.mark.parametrize("body", [
    b"[" * 100000 + b"]" * 100000,
    b'{"a":' * 50000 + b"1" + b"}" * 50000,
    b'{"event": "media.play", "x": ' + b"[" * 200 + b"]" * 200 + b"}",  # within recursion, beyond any need
])
def test_deeply_nested_json_is_400(make_server, backend, caplog, path, body):
    server = make_server()
    status, _, answer = post(server, path, "application/json", body)
    assert status == 400, answer
    assert "nested" in json.loads(answer)["error"]
    assert backend.triggers == [] and backend.overrides == []
    no_traceback_logged(caplog)


def test_json_strings_with_brackets_are_not_nesting(make_server, backend):
    server = make_server()
    payload = {"event": "media.play", "Metadata": {"title": "[[[[" * 100 + "{{{{" * 100 + '\\"['}}
    status, _, answer = post(server, "/webhook", "application/json", json.dumps(payload).encode())
    assert status == 200, answer


def nested_multipart(depth: int, named_payload: bool) -> tuple:
    inner = b"{}"
    for level in range(depth, 0, -1):
        boundary = b"b%d" % level
        inner = (b"--" + boundary + b"\r\nContent-Type: multipart/mixed; boundary=b%d\r\n\r\n" % (level + 1)
                 + inner + b"\r\n--" + boundary + b"--\r\n")
    name = b"payload" if named_payload else b"other"
    body = (b"--b0\r\nContent-Disposition: form-data; name=\"" + name + b"\"\r\n"
            b"Content-Type: multipart/mixed; boundary=b1\r\n\r\n" + inner + b"\r\n--b0--\r\n")
    return body, "multipart/form-data; boundary=b0"


@pytest.mark.parametrize("named_payload, message", [(False, "no 'payload' or 'data' part"), (True, "not valid JSON")])
def test_deeply_nested_multipart_is_400(make_server, backend, caplog, named_payload, message):
    server = make_server()
    body, content_type = nested_multipart(3000, named_payload)
    status, _, answer = post(server, "/webhook", content_type, body)
    assert status == 400, answer
    assert message in json.loads(answer)["error"]
    assert backend.triggers == []
    no_traceback_logged(caplog)


@pytest.mark.parametrize("raw", [
    b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(32)) + b"\r\n\r\n",  # a TLS hello
    b"GET / HTTP/1.1\r\nno colon here\r\n\r\n",
    b"GET /health HTTP/9.9\r\n\r\n",
    b"GET /health HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
    b"POST /webhook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    b"POST /webhook HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + b"1" * 2000 + b"\r\n",
    b"POST /webhook HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=\"unterminated\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /webhook HTTP/1.1\r\nContent-Type: multipart/form-data; boundary=" + b"x" * 200 + b"\r\nContent-Length: 2\r\n\r\n{}",
    b"POST /webhook HTTP/1.1\r\nContent-Length: 5\r\n\r\n\xff\xfe\x00\x01\x02",
    b"POST /webhook HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 9\r\n\r\npayload=%",
])
def test_malformed_requests_are_answered_without_a_traceback(make_server, caplog, raw):
    server = make_server()
    status, _, body = exchange(server, raw)
    assert 400 <= status < 500 or status in (501, 505), body
    no_traceback_logged(caplog)


# --- #11: the webhook's 401 and the Server header ---------------------------------------------------


def test_the_webhook_401_tells_how_plex_can_send_the_token(make_server):
    server = make_server(token=TOKEN)
    body, headers = plex_multipart(plex_payload("media.play"))
    status, _, answer = post(server, "/webhook", headers["Content-Type"], body)
    assert status == 401
    assert "?token=" in json.loads(answer)["error"]
    status, _, answer = exchange(server, b"DELETE /override HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    assert status == 401 and "Authorization: Bearer" in json.loads(answer)["error"]


def test_the_server_header_has_no_trailing_space(make_server):
    server = make_server()
    with raw_connection(server) as sock:
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        data = b""
        while b"\r\n\r\n" not in data:
            data += sock.recv(65536)
    assert b"\r\nServer: plex-helper\r\n" in data
