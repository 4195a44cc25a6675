"""Reading an HTTP/1.1 request head from a client that may be hostile.

A read timeout alone bounds only the silence between two bytes: a client sending one byte every few
seconds would hold a connection for ever. `read_head` gives the whole head (request line and
headers) one deadline, and caps the request line, each header line, the head and the number of
headers as the bytes arrive, before anything parses them. It never reads past the blank line, so a
body or a pipelined request stays in the stream.

`content_length` is the one place a Content-Length value is read.
"""
from __future__ import annotations

import io
import re
import socket
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, List, Optional, Tuple


class RequestError(Exception):
    """A request that gets an error answer: `status` and a message for the client."""

    def __init__(self, status: int, message: str, headers: Iterable[Tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = tuple(headers)


class HeadTimeout(Exception):
    """The head did not arrive within its deadline (or the client went quiet): drop the connection."""


@dataclass(frozen=True)
class HeadLimits:
    deadline_sec: float = 10.0  # for the whole head, however it trickles in
    max_line_bytes: int = 8 * 1024  # the request line, and each header line
    max_head_bytes: int = 32 * 1024
    max_headers: int = 100


def read_head(
    rfile: io.BufferedReader,
    sock: socket.socket,
    limits: HeadLimits,
    idle_timeout_sec: float,
    clock: Callable[[], float] = time.monotonic,
) -> Tuple[bytes, bytes]:
    """(request line, header lines up to and including the blank line), or (b"", b"") when the
    client closed the connection before a request began.

    Raises HeadTimeout when the head is not complete within `limits.deadline_sec`, or nothing
    arrives for `idle_timeout_sec`; RequestError 414 or 431 when it breaks a cap; RequestError 400
    when the connection ends inside the head. Leaves the socket's timeout changed: the caller sets
    it again for what follows.
    """
    reader = _DeadlineReader(rfile, sock, clock() + limits.deadline_sec, idle_timeout_sec, clock)
    request_line = reader.line(limits.max_line_bytes, RequestError(414, "request line too long"))
    if not request_line:
        return b"", b""
    if not request_line.endswith(b"\n"):
        raise RequestError(400, "the connection ended inside the request line")
    if not request_line.strip():  # stray blank lines before a request: let the caller's parser refuse them
        return request_line, b""
    lines: List[bytes] = []
    total = len(request_line)
    while True:
        too_long = RequestError(431, "a header line is longer than %d bytes" % limits.max_line_bytes)
        line = reader.line(limits.max_line_bytes, too_long)
        if not line.endswith(b"\n"):
            raise RequestError(400, "the connection ended inside the request headers")
        total += len(line)
        if total > limits.max_head_bytes:
            raise RequestError(431, "request headers larger than %d bytes" % limits.max_head_bytes)
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            return request_line, b"".join(lines)
        if b":" not in line and line[:1] not in (b" ", b"\t"):  # neither a header nor a folded one
            raise RequestError(400, "a request header line without a colon")
        if len(lines) > limits.max_headers:
            raise RequestError(431, "more than %d request headers" % limits.max_headers)


class _DeadlineReader:
    """Lines from a buffered socket stream, each socket read bounded by what is left of the deadline."""

    def __init__(self, rfile: Any, sock: socket.socket, deadline: float, idle_timeout_sec: float,
                 clock: Callable[[], float]) -> None:
        self._rfile, self._sock, self._deadline = rfile, sock, deadline
        self._idle, self._clock = idle_timeout_sec, clock

    def line(self, limit: int, too_long: RequestError) -> bytes:
        """One line with its end, or what came before the connection ended (b"" at once)."""
        pieces: List[bytes] = []
        size = 0
        while True:
            remaining = self._deadline - self._clock()
            if remaining <= 0:
                raise HeadTimeout("the request head did not arrive in time")
            self._sock.settimeout(min(remaining, self._idle))
            try:
                available = self._rfile.peek(1)  # what is buffered, or one read from the socket
            except (socket.timeout, TimeoutError) as err:
                raise HeadTimeout("the request head did not arrive in time") from err
            if not available:
                return b"".join(pieces)
            end = available.find(b"\n")
            take = len(available) if end < 0 else end + 1
            if size + take > limit:
                raise too_long
            pieces.append(self._rfile.read(take))  # from the buffer: no further socket read
            size += take
            if end >= 0:
                return b"".join(pieces)


_LENGTH = re.compile(r"[0-9]{1,10}")


def content_length(headers: Any) -> Optional[int]:
    """The declared body length, or None without a Content-Length. RequestError 400 unless there is
    exactly one and it is 1 to 10 ASCII digits (`str.isdigit` also accepts '¹', and `int` refuses
    more than 4,300 digits)."""
    values = headers.get_all("Content-Length") or []
    if not values:
        return None
    if len(values) > 1:
        raise RequestError(400, "more than one Content-Length header")
    text = values[0].strip(" \t")
    if not _LENGTH.fullmatch(text):
        raise RequestError(400, "bad Content-Length: expected 1 to 10 digits")
    return int(text)


def read_body(rfile: Any, length: Optional[int], chunked: bool, limit: int, deadline: float,
              clock: Callable[[], float] = time.monotonic) -> bytes:
    """The body, `length` bytes or chunked, at most `limit` bytes, read before `deadline` (a clock()
    time). RequestError 400 (malformed, ended early), 408 (too slow) or 413 (too large)."""
    if not chunked:
        return _read_exactly(rfile, length or 0, deadline, clock)
    chunks = []
    total = 0
    while True:
        line = rfile.readline(1024)
        if not line.endswith(b"\n"):
            raise RequestError(400, "malformed chunked body")
        size_text = line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError as err:
            raise RequestError(400, "malformed chunked body") from err
        if size == 0:
            for _ in range(100):  # trailers, up to the blank line
                trailer = rfile.readline(8192)
                if trailer in (b"\r\n", b"\n", b""):
                    return b"".join(chunks)
            raise RequestError(400, "malformed chunked body")
        total += size
        if total > limit:
            raise RequestError(413, "request body too large (at most %d bytes)" % limit)
        chunks.append(_read_exactly(rfile, size, deadline, clock))
        if rfile.readline(3).strip():
            raise RequestError(400, "malformed chunked body")


def _read_exactly(rfile: Any, length: int, deadline: float, clock: Callable[[], float]) -> bytes:
    chunks = []
    remaining = length
    while remaining > 0:
        if clock() > deadline:
            raise RequestError(408, "the request body did not arrive in time")
        chunk = rfile.read1(min(remaining, 65536))
        if not chunk:
            raise RequestError(400, "the request body ended early (%d of %d bytes)" % (length - remaining, length))
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


__all__ = ["HeadLimits", "HeadTimeout", "RequestError", "content_length", "read_body", "read_head"]
