"""The status server's request stream, read under one deadline per request head and per body.

A socket timeout bounds only the silence between two bytes: a client sending one byte every few
seconds would hold a thread for ever, whatever the timeout. `DeadlineReader` wraps the handler's
buffered `rfile`: `http.server` still reads and parses the head itself (`readline`), but every
socket read waits at most for what is left of the deadline, and the head's header lines are
capped in size as they arrive, before anything parses them.

Past the deadline a read raises TimeoutError, which `BaseHTTPRequestHandler.handle_one_request`
already answers by closing the connection. Header lines over the caps raise `HeadersTooLarge`, an
`http.client.HTTPException`, which its `parse_request` already answers with 431.
"""
from __future__ import annotations

import http.client
import socket
import sys
import time
from typing import Any, Callable, List

MAX_HEADER_LINE_BYTES = 8 * 1024  # each header line (the stdlib allows 64 KiB)
MAX_HEADER_BYTES = 32 * 1024  # all header lines together (the stdlib allows 100 lines of 64 KiB)


class HeadersTooLarge(http.client.HTTPException):
    """A header line, or the headers together, over the caps (answered 431 by parse_request)."""


class DeadlineReader:
    """The handler's `rfile`, each socket read bounded by the current deadline.

    `expect_head` before each request (the stdlib reads its request line and headers with
    `readline`), `expect_body` before reading the body with `read`."""

    def __init__(self, rfile: Any, sock: socket.socket, idle_timeout_sec: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._rfile, self._sock, self._idle, self._clock = rfile, sock, idle_timeout_sec, clock
        self._deadline = clock() + idle_timeout_sec
        self._what = "request"
        self._in_head = False
        self._lines = 0  # lines read of the current head; the first is the request line
        self._header_bytes = 0

    def expect_head(self, deadline_sec: float) -> None:
        self._deadline, self._what = self._clock() + deadline_sec, "request head"
        self._in_head, self._lines, self._header_bytes = True, 0, 0

    def expect_body(self, deadline_sec: float) -> None:
        self._deadline, self._what, self._in_head = self._clock() + deadline_sec, "request body", False

    def readline(self, limit: int = -1) -> bytes:
        """One line with its end, at most `limit` bytes, or what came before the connection ended."""
        cap = limit if limit is not None and limit >= 0 else sys.maxsize
        header = self._in_head and self._lines > 0
        room = min(MAX_HEADER_LINE_BYTES, MAX_HEADER_BYTES - self._header_bytes)
        if header:
            cap = min(cap, room + 1)  # one byte more than allowed tells "too long" from "just fits"
        line = self._line(cap)
        if header:
            if len(line) > MAX_HEADER_LINE_BYTES:
                raise HeadersTooLarge("a header line is longer than %d bytes" % MAX_HEADER_LINE_BYTES)
            if len(line) > room:
                raise HeadersTooLarge("request headers larger than %d bytes" % MAX_HEADER_BYTES)
            self._header_bytes += len(line)
        self._lines += 1
        return line

    def read(self, size: int) -> bytes:
        """`size` bytes, or fewer when the connection ends first."""
        pieces: List[bytes] = []
        left = size
        while left > 0:
            chunk = self._bounded(self._rfile.read1, min(left, 65536))  # at most one socket read
            if not chunk:
                break
            pieces.append(chunk)
            left -= len(chunk)
        return b"".join(pieces)

    def close(self) -> None:
        self._rfile.close()

    @property
    def closed(self) -> bool:
        return bool(self._rfile.closed)

    def _line(self, cap: int) -> bytes:
        pieces: List[bytes] = []
        size = 0
        while size < cap:
            available = self._bounded(self._rfile.peek, 1)  # the buffer, or one socket read
            if not available:
                break
            end = available.find(b"\n", 0, cap - size)
            take = min(len(available), cap - size) if end < 0 else end + 1
            pieces.append(self._rfile.read(take))  # from the buffer: no further socket read
            size += take
            if end >= 0:
                break
        return b"".join(pieces)

    def _bounded(self, read: Callable[[int], bytes], size: int) -> bytes:
        remaining = self._deadline - self._clock()
        if remaining <= 0:
            raise TimeoutError("the %s did not arrive in time" % self._what)
        self._sock.settimeout(min(remaining, self._idle))
        try:
            return read(size)
        except TimeoutError as err:  # (socket.timeout on 3.10 is the same class)
            raise TimeoutError("the %s did not arrive in time" % self._what) from err
        finally:
            self._sock.settimeout(self._idle)  # the answer is written with the usual timeout


__all__ = ["DeadlineReader", "HeadersTooLarge", "MAX_HEADER_BYTES", "MAX_HEADER_LINE_BYTES"]
