"""The deadline for a whole urllib3 exchange: a watchdog thread that shuts a connection's socket down
when the request it carries has run out of time.

urllib3's read timeout applies to each socket read, not to the answer: a server that sends one byte
every few seconds (headers or body) would hold a request for hours. `HttpClient` arms one deadline
per request; when it passes, the watchdog shuts the connection's socket down, which wakes the blocked
read at once, and the request fails like any other unreachable server. The connection classes tell
the request in progress which socket it uses (`current.exchange`), new or kept alive.
"""
from __future__ import annotations

import heapq
import itertools
import socket
import threading
import time
from typing import Callable, List, Optional

from urllib3 import connection as u3_connection
from urllib3 import connectionpool as u3_pool


class Watchdog:
    """One daemon thread that runs an action when its deadline passes, unless it was cancelled first.

    One thread for the whole process (not a Timer per request): it sleeps until the earliest
    deadline and is woken only when an earlier one is armed.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: List[list] = []
        self._seq = itertools.count()
        self._cancelled = 0  # cancelled entries still in the heap
        self._thread: Optional[threading.Thread] = None

    def arm(self, deadline: float, action: Callable[[], None]) -> list:
        entry = [deadline, next(self._seq), action]
        with self._cond:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            elif earliest is None or deadline < earliest:
                self._cond.notify()
        return entry

    def cancel(self, entry: list) -> None:
        with self._cond:
            entry[2] = None  # left in the heap; dropped when its time comes (no wake-up needed)
            self._cancelled += 1
            if self._cancelled > 32 and self._cancelled * 2 > len(self._heap):
                # fast polls cancel faster than deadlines pass: keep the heap as small as what is armed
                self._heap = [e for e in self._heap if e[2] is not None]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2] is None:
                        heapq.heappop(self._heap)
                        self._cancelled = max(0, self._cancelled - 1)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        action = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(wait)
            try:
                action()
            except Exception:  # pragma: no cover - an action only shuts sockets down
                pass


WATCHDOG = Watchdog()
current = threading.local()


class Exchange:
    """The sockets one request used, so the watchdog can cut them when its deadline passes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._closing: List[socket.socket] = []
        self.expired = False
        self._done = False

    def watch(self, sock: Optional[socket.socket]) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def close_later(self, sock: socket.socket) -> None:
        """A watched duplicate whose connection closed mid-exchange: a response that ends with the
        connection may still be reading its body through the original, so keep it until the end."""
        with self._lock:
            self._closing.append(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            for sock in self._closing:
                sock.close()
            self._closing.clear()


def _shut(sock: socket.socket) -> None:
    """Shut the connection down (both ways): a read blocked on it in another thread returns at once.

    socket.socket's own shutdown, also for a TLS socket: SSLSocket.shutdown would drop its TLS
    state under the reading thread's feet.
    """
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _watch(sock: Optional[socket.socket]) -> None:
    exchange = getattr(current, "exchange", None)
    if exchange is not None:
        exchange.watch(sock)


class _WatchedHTTPConnection(u3_connection.HTTPConnection):
    """Tells the request in progress which socket it is using, new or kept alive."""

    _watch_sock: Optional[socket.socket] = None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        # A duplicate of the descriptor: shutdown acts on the connection, so shutting the duplicate
        # down also stops a TLS handshake, during which the original socket object is detached.
        try:
            self._watch_sock = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:
            self._watch_sock = None
        _watch(self._watch_sock)
        return sock

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        _watch(self._watch_sock if self.sock is not None else None)
        return super().request(*args, **kwargs)

    def close(self) -> None:
        try:
            super().close()
        finally:
            duplicate, self._watch_sock = self._watch_sock, None
            if duplicate is not None:
                exchange = getattr(current, "exchange", None)
                if exchange is not None:
                    exchange.close_later(duplicate)
                else:
                    duplicate.close()


class _WatchedHTTPSConnection(_WatchedHTTPConnection, u3_connection.HTTPSConnection):
    pass


class WatchedHTTPPool(u3_pool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class WatchedHTTPSPool(u3_pool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection
