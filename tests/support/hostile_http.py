"""A raw-socket HTTP stand-in that misbehaves on purpose: trickles, oversized bodies, TLS where
plain HTTP is expected. For tests only; listens on 127.0.0.1 and stops every connection on exit.

    with HostileServer(trickle_body(b"{}", content_length=2000)) as server:
        server.url, server.requests
"""
from __future__ import annotations

import socket
import threading
from typing import Callable, List, Optional

Behaviour = Callable[[socket.socket, "HostileServer"], None]


class HostileServer:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests = 0
        self.connections = 0  # accepted: a kept-alive client asks several times on one
        self.token = "token"  # what a config written for a Plex stand-in expects to find
        self.stopping = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = "http://127.0.0.1:%d" % self._listener.getsockname()[1]
        self._threads: List[threading.Thread] = []
        self._conns: List[socket.socket] = []
        self._lock = threading.Lock()

    def __enter__(self) -> "HostileServer":
        thread = threading.Thread(target=self._accept, daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *_: object) -> None:
        self.stopping.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # on Linux this wakes the accept() at once
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()
        for thread in self._threads:
            thread.join(5)

    def _accept(self) -> None:
        self._listener.settimeout(0.1)  # a bound where shutdown() does not wake accept()
        while not self.stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._lock:
                self._conns.append(conn)
                self.connections += 1
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, conn: socket.socket) -> None:
        try:
            while not self.stopping.is_set():
                if not read_head(conn):
                    return
                with self._lock:
                    self.requests += 1
                self.behaviour(conn, self)
        except OSError:
            pass


def read_head(conn: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(4096)
        if not chunk:
            return False
        data += chunk
    return True


def _pace(conn: socket.socket, server: HostileServer, data: bytes, every_sec: float) -> None:
    for index in range(len(data)):
        if server.stopping.wait(every_sec):
            return
        conn.sendall(data[index:index + 1])


def trickle_head(every_sec: float = 0.1) -> Behaviour:
    """The status line and headers, one byte at a time: each read gets a byte, none gets a head."""

    def behave(conn: socket.socket, server: HostileServer) -> None:
        _pace(conn, server, b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}" * 50, every_sec)

    return behave


def trickle_body(body: bytes = b"{}", content_length: int = 2000, every_sec: float = 0.1) -> Behaviour:
    """Headers at once, then the body one byte at a time."""

    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % content_length)
        _pace(conn, server, body.ljust(content_length), every_sec)

    return behave


def endless_body(content_length: int = 1 << 30, extra_headers: bytes = b"") -> Behaviour:
    """Declares `content_length` bytes and sends them as fast as the client reads."""

    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n" % (content_length, extra_headers))
        block = b"7" * 65536
        sent = 0
        while sent < content_length and not server.stopping.is_set():
            conn.sendall(block)
            sent += len(block)

    return behave


def raw(response: bytes, close: bool = False) -> Behaviour:
    """Exactly these bytes as the answer; with close=True the connection ends after them."""

    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(response)
        if close:
            conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    return behave


def endless_trailers(line: bytes = b"X-Trailer: " + b"t" * 1000 + b"\r\n") -> Behaviour:
    """A chunked body whose last chunk is followed by trailer lines that never end."""

    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n")
        block = line * 64
        while not server.stopping.is_set():
            conn.sendall(block)

    return behave


def answer(status: int, body: bytes, headers: bytes = b"") -> Behaviour:
    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(b"HTTP/1.1 %d X\r\nContent-Length: %d\r\n%s\r\n%s" % (status, len(body), headers, body))

    return behave


def tls_alert() -> Behaviour:
    """What a TLS server sends back to a plain-HTTP request: an alert record, then it closes."""

    def behave(conn: socket.socket, server: HostileServer) -> None:
        conn.sendall(b"\x15\x03\x01\x00\x02\x02\x46")
        conn.close()

    return behave


def run_bounded(call: Callable[[], object], timeout: float) -> Optional[BaseException]:
    """Runs call in a thread; the exception it raised, or AssertionError if it did not end in time."""
    outcome: List[BaseException] = []

    def target() -> None:
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        return AssertionError("still running after %g s" % timeout)
    return outcome[0] if outcome else None
