"""Reading an HTTP/1.x answer off a socket within one deadline: the head (parsed by a split, capped),
then the body by Content-Length, chunks or until close, capped, gzip/deflate decoded within the cap.
Every wait is bounded by the time left (`Expired` when there is none). For `PollingClient`."""
from __future__ import annotations

import re
import socket
import time
import zlib
from typing import Dict, Iterator, List, Mapping, Optional, Tuple


MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
RECV_BYTES = 64 * 1024  # below malloc's mmap threshold: a recv buffer costs no system calls
NO_BODY = frozenset({204, 304})


class ProtocolFailure(Exception):
    """The bytes that came back are not an HTTP/1.x answer we can frame."""


class Expired(Exception):
    """The exchange's deadline passed."""


class Dropped(Exception):
    """The server closed the connection before the first byte of an answer."""


class Headers(Mapping[str, str]):
    """An answer's headers, looked up case-insensitively; a repeated header's values joined by ", "."""

    def __init__(self, by_lower_name: Dict[str, str]) -> None:
        self._values = by_lower_name

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._values

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def getlist(self, name: str) -> List[str]:
        value = self._values.get(name.lower())
        return [] if value is None else [value]


def parse_head(head: bytes) -> Tuple[int, str, Dict[str, str]]:
    """(status, HTTP version, {lower-case name: value}) from a response head without its blank
    line; ProtocolFailure when it is not HTTP/1.x. Pure, for tests with arbitrary bytes."""
    lines = head.decode("latin-1").split("\n")
    status_line = lines[0].rstrip("\r")
    if status_line[:2] in ("\x15\x03", "\x16\x03"):
        raise ProtocolFailure("tls")  # a TLS record: a plain-HTTP request to an HTTPS port
    parts = status_line.split(None, 2)
    if (len(parts) < 2 or parts[0] not in ("HTTP/1.1", "HTTP/1.0") or len(parts[1]) != 3
            or not parts[1].isascii() or not parts[1].isdigit()):
        raise ProtocolFailure("not an HTTP/1.x status line")
    if len(lines) - 1 > MAX_HEADERS:
        raise ProtocolFailure("too many headers")
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, colon, value = line.partition(":")
        if not colon or not name or name != name.strip() or " " in name:
            raise ProtocolFailure("a malformed header line")
        name, value = name.lower(), value.strip()
        if name in headers:
            if name == "content-length" and headers[name] != value:
                raise ProtocolFailure("conflicting Content-Length headers")
            if name != "content-length":
                headers[name] += ", " + value
        else:
            headers[name] = value
    return int(parts[1]), parts[0], headers


def content_length(headers: Mapping[str, str]) -> Optional[int]:
    """The Content-Length, None without one; ProtocolFailure when it is not a plain number."""
    value = headers.get("content-length")
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or len(value) > 18:
        raise ProtocolFailure("a bad Content-Length")
    return int(value)


_HEAD_END = re.compile(rb"\r?\n\r?\n")  # CRLF CRLF, or bare LFs as http.client tolerates


def read_head(sock: socket.socket, buffer: bytearray, deadline: float) -> Tuple[int, int]:
    """(where the head ends, where the body starts) in `buffer`, reading as needed."""
    searched = 0
    while True:
        found = _HEAD_END.search(buffer, max(searched - 3, 0))
        if found is not None:
            if found.start() > MAX_HEAD_BYTES:
                raise ProtocolFailure("a head over %d bytes" % MAX_HEAD_BYTES)
            return found.start(), found.end()
        if buffer[:2] in (b"\x15\x03", b"\x16\x03"):
            raise ProtocolFailure("tls")  # a TLS record: a plain-HTTP request to an HTTPS port
        if len(buffer) > MAX_HEAD_BYTES:
            raise ProtocolFailure("a head over %d bytes" % MAX_HEAD_BYTES)
        searched = len(buffer)
        try:
            chunk = recv(sock, deadline)
        except ConnectionResetError:  # before any byte: a kept-alive connection the server dropped
            chunk = b""
        if not chunk:
            if not buffer:
                raise Dropped()
            raise ProtocolFailure("the connection closed inside the head")
        buffer += chunk


def read_body(
    sock: socket.socket, buffer: bytearray, status: int, headers: Dict[str, str], cap: int,
    deadline: float,
) -> Tuple[bytes, bool, bool]:
    """(body, framed completely, truncated at the cap)."""
    if status in NO_BODY:
        return b"", not buffer, False
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return read_chunked(sock, buffer, cap, deadline)
    length = content_length(headers)
    if length is not None:
        if length > cap:
            return bytes(buffer[:cap]), False, True
        if len(buffer) >= length:
            return bytes(buffer[:length]), len(buffer) == length, False
        # the rest straight into a buffer of the final size: no copies, no growing
        body = bytearray(length)
        body[: len(buffer)] = buffer
        recv_into(sock, memoryview(body)[len(buffer):], deadline)
        return body, True, False  # type: ignore[return-value] # a bytearray: no second copy of a big body
    while len(buffer) <= cap:  # no framing: the body ends with the connection
        chunk = recv(sock, deadline)
        if not chunk:
            return bytes(buffer), False, False
        buffer += chunk
    return bytes(buffer[:cap]), False, True


def read_chunked(sock: socket.socket, buffer: bytearray, cap: int, deadline: float) -> Tuple[bytes, bool, bool]:
    body = bytearray()
    pos = 0
    while True:
        line_end = buffer.find(b"\n", pos)
        while line_end < 0:
            if len(buffer) - pos > 1024:
                raise ProtocolFailure("a bad chunk size line")
            read_more(sock, buffer, deadline)
            line_end = buffer.find(b"\n", pos)
        size_text = bytes(buffer[pos:line_end]).split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16 or size_text.strip(b"0123456789abcdefABCDEF"):
            raise ProtocolFailure("a bad chunk size")
        size = int(size_text, 16)
        pos = line_end + 1
        if size == 0:
            while True:  # trailers, up to the blank line
                line_end = buffer.find(b"\n", pos)
                while line_end < 0:
                    if len(buffer) - pos > MAX_HEAD_BYTES:
                        raise ProtocolFailure("trailers over %d bytes" % MAX_HEAD_BYTES)
                    read_more(sock, buffer, deadline)
                    line_end = buffer.find(b"\n", pos)
                line = bytes(buffer[pos:line_end]).rstrip(b"\r")
                pos = line_end + 1
                if not line:
                    return bytes(body), len(buffer) == pos, False
        if len(body) + size > cap:
            body += buffer[pos:pos + cap - len(body)]
            return bytes(body), False, True
        while len(buffer) < pos + size + 2:
            read_more(sock, buffer, deadline)
        body += buffer[pos:pos + size]
        if buffer[pos + size:pos + size + 2] == b"\r\n":
            pos += size + 2
        elif buffer[pos + size:pos + size + 1] == b"\n":
            pos += size + 1
        else:
            raise ProtocolFailure("a chunk without its line end")
        if pos > RECV_BYTES:  # keep the buffer small: drop what was consumed
            del buffer[:pos]
            pos = 0


def read_more(sock: socket.socket, buffer: bytearray, deadline: float) -> None:
    chunk = recv(sock, deadline)
    if not chunk:
        raise ProtocolFailure("the connection closed inside the body")
    buffer += chunk


def decoded(body: bytes, encoding: str, cap: int, truncated: bool) -> Tuple[bytes, bool]:
    """A gzip/deflate body decoded, at most `cap` bytes of it (a small body may inflate hugely).
    gzip may hold several members one after the other; "deflate" is zlib-wrapped or, from some
    servers, raw. zlib.error when it is neither."""
    if "gzip" in encoding:
        out, rest = bytearray(), bytes(body)
        while rest and len(out) <= cap:
            decoder = zlib.decompressobj(16 + zlib.MAX_WBITS)
            try:
                out += decoder.decompress(rest, cap + 1 - len(out))
            except zlib.error:
                if not out:
                    raise
                break  # padding after the last member, as some servers send
            if not decoder.eof:
                break  # the cap was reached (or the member is cut short)
            rest = decoder.unused_data
    else:
        try:
            out = bytearray(zlib.decompressobj(zlib.MAX_WBITS).decompress(body, cap + 1))
        except zlib.error:
            out = bytearray(zlib.decompressobj(-zlib.MAX_WBITS).decompress(body, cap + 1))
    if len(out) > cap:
        return bytes(out[:cap]), True
    return bytes(out), truncated


def time_left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise Expired()
    return left


def wait_time(sock: socket.socket, deadline: float) -> None:
    sock.settimeout(time_left(deadline))


def recv_into(sock: socket.socket, view: memoryview, deadline: float) -> None:
    """Fills `view` from the socket, or raises (closed early, deadline)."""
    while len(view):
        wait_time(sock, deadline)
        try:
            got = sock.recv_into(view)
        except socket.timeout:
            raise Expired() from None
        if not got:
            raise ProtocolFailure("the connection closed inside the body")
        view = view[got:]


def recv(sock: socket.socket, deadline: float, wanted: int = RECV_BYTES) -> bytes:
    wait_time(sock, deadline)
    try:
        return sock.recv(max(min(wanted, RECV_BYTES), 1))
    except socket.timeout:
        raise Expired() from None
