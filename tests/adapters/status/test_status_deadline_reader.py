"""DeadlineReader on a local socket pair: one deadline however the bytes trickle, header caps, bodies."""
from __future__ import annotations

import socket
import threading
import time
from typing import Iterator, Tuple

import pytest

from adapters.status.deadline_reader import (
    MAX_HEADER_BYTES, MAX_HEADER_LINE_BYTES, DeadlineReader, HeadersTooLarge,
)


@pytest.fixture
def pair() -> Iterator[Tuple[socket.socket, socket.socket]]:
    server, client = socket.socketpair()
    yield server, client
    server.close()
    client.close()


def reader_for(server: socket.socket, idle_sec: float = 2.0) -> DeadlineReader:
    server.settimeout(idle_sec)
    return DeadlineReader(server.makefile("rb"), server, idle_sec)


def trickle(sock: socket.socket, data: bytes, every_sec: float, stop: threading.Event) -> threading.Thread:
    def run() -> None:
        for byte in data:
            if stop.wait(every_sec):
                return
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                return

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def send_in_background(sock: socket.socket, data: bytes) -> threading.Thread:
    """For more than a socket buffer holds: sent while the reader reads."""
    def run() -> None:
        try:
            sock.sendall(data)
        except OSError:  # the reader stopped reading
            pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_lines_come_whole_and_the_limit_holds(pair):
    server, client = pair
    reader = reader_for(server)
    reader.expect_head(5)
    client.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\nrest")
    assert reader.readline(65537) == b"GET / HTTP/1.1\r\n"
    assert reader.readline(4) == b"Host"  # at most `limit` bytes, as BufferedReader.readline
    assert reader.readline(65537) == b": x\r\n"
    assert reader.readline(65537) == b"\r\n"
    reader.expect_body(5)
    assert reader.read(4) == b"rest"


def test_a_trickled_head_ends_at_the_deadline_not_the_idle_timeout(pair):
    server, client = pair
    reader = reader_for(server, idle_sec=2.0)  # every byte comes well within the idle timeout
    stop = threading.Event()
    thread = trickle(client, b"GET /health HTTP/1.1\r\n" + b"X" * 1000, 0.05, stop)
    reader.expect_head(0.5)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="request head did not arrive in time"):
            while reader.readline(65537):
                pass
    finally:
        stop.set()
        thread.join(2)
    assert time.monotonic() - started < 1.5


def test_silence_ends_at_the_idle_timeout(pair):
    server, _client = pair
    reader = reader_for(server, idle_sec=0.2)
    reader.expect_head(10)
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        reader.readline(65537)
    assert time.monotonic() - started < 1.0


def test_the_socket_timeout_is_back_to_the_idle_one_after_a_read(pair):
    server, client = pair
    reader = reader_for(server, idle_sec=2.0)
    reader.expect_head(0.3)
    client.sendall(b"GET / HTTP/1.1\r\n")
    reader.readline(65537)
    assert server.gettimeout() == 2.0  # the answer is not written with what was left of the deadline


def test_a_header_line_over_its_cap_is_refused(pair):
    server, client = pair
    reader = reader_for(server)
    reader.expect_head(5)
    client.sendall(b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEADER_LINE_BYTES + b"\r\n\r\n")
    reader.readline(65537)
    with pytest.raises(HeadersTooLarge, match="header line is longer"):
        reader.readline(65537)


def test_headers_over_their_total_cap_are_refused(pair):
    server, client = pair
    reader = reader_for(server)
    reader.expect_head(5)
    line = b"X: " + b"a" * (MAX_HEADER_LINE_BYTES - 100) + b"\r\n"
    lines_that_fit = MAX_HEADER_BYTES // len(line)
    sender = send_in_background(client, b"GET / HTTP/1.1\r\n" + line * (lines_that_fit + 1))
    reader.readline(65537)
    for _ in range(lines_that_fit):
        assert reader.readline(65537) == line
    with pytest.raises(HeadersTooLarge, match="request headers larger than %d bytes" % MAX_HEADER_BYTES):
        reader.readline(65537)
    server.shutdown(socket.SHUT_RDWR)  # lets the sender finish
    sender.join(2)


def test_the_request_line_is_not_held_to_the_header_caps(pair):
    server, client = pair
    reader = reader_for(server)
    reader.expect_head(5)
    sender = send_in_background(client, b"GET /" + b"a" * 20000 + b" HTTP/1.1\r\n")
    assert len(reader.readline(65537)) == 20000 + len(b"GET / HTTP/1.1\r\n")  # http.server's cap is 64 KiB
    sender.join(2)


def test_each_head_gets_fresh_caps(pair):
    server, client = pair
    reader = reader_for(server)
    line = b"X: " + b"a" * 8000 + b"\r\n"
    for _ in range(3):  # three heads of 3 lines: over the cap together, each within it
        reader.expect_head(5)
        client.sendall(b"GET / HTTP/1.1\r\n" + line * 3 + b"\r\n")
        while reader.readline(65537) != b"\r\n":
            pass


def test_a_body_read_stops_at_its_deadline_and_at_the_end(pair):
    server, client = pair
    reader = reader_for(server, idle_sec=2.0)
    stop = threading.Event()
    thread = trickle(client, b"x" * 1000, 0.05, stop)
    reader.expect_body(0.4)
    started = time.monotonic()
    try:
        with pytest.raises(TimeoutError, match="request body did not arrive in time"):
            reader.read(1000)
    finally:
        stop.set()
        thread.join(2)
    assert time.monotonic() - started < 1.5

    other_server, other_client = socket.socketpair()
    with other_server, other_client:
        reader = reader_for(other_server)
        other_client.sendall(b"abc")
        other_client.shutdown(socket.SHUT_WR)
        reader.expect_body(5)
        assert reader.read(10) == b"abc"  # fewer when the connection ends first
