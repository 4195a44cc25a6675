"""GETs of the same few URLs, again and again, over one kept-alive connection: the media servers' poll.

The poll is the one request the daemon makes every few seconds for months, so its cost is the
daemon's cost. `HttpClient` (urllib3, http.client) spends about 0.5 ms of CPU per exchange on its
layers: pool bookkeeping, header parsing through the email package, a watchdog thread. This client
sends the request bytes it built once and reads the answer with a few `recv` calls and a split of
the head, so a poll costs a third of that. What it keeps from `HttpClient`:

* one deadline for the whole exchange (connect, TLS handshake, request, status line, headers and
  body): every wait is bounded by the time left, so a server that trickles a byte at a time is cut
  off when the deadline passes; no thread is needed;
* a cap on the answer's size (`HttpAnswer.truncated`), and on the head (64 KiB, 100 headers);
* the same answers (`HttpAnswer`, headers case-insensitive) and the same plain-words failures
  (`HttpTransportError`, `describe_transport_error`), never with a URL in them;
* TLS with the same options, no redirects followed, no retries except one: a kept-alive connection
  the server closed between polls is reopened once, as a GET may be repeated.

It speaks only what a media server answers a GET with: HTTP/1.x, a Content-Length, chunked or
until-close body, optionally gzip- or deflate-encoded; anything else is a failed exchange.
"""
from __future__ import annotations

import socket
import ssl
import threading
import time
import zlib
from typing import Dict, Iterator, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from adapters.http import HttpAnswer, HttpTransportError, describe_transport_error

MAX_HEAD_BYTES = 64 * 1024
MAX_HEADERS = 100
_RECV = 64 * 1024  # below malloc's mmap threshold: a recv buffer costs no system calls
_NO_BODY = frozenset({204, 304})


class ProtocolFailure(Exception):
    """The bytes that came back are not an HTTP/1.x answer we can frame."""


class _Expired(Exception):
    """The exchange's deadline passed."""


class _Dropped(Exception):
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


class PollingClient:
    """GET requests to one server (`base_url`: scheme, host and port), each bounded in time and size.

    Thread-safe (one exchange at a time). `get(path)` returns the answer to any status, or raises
    HttpTransportError."""

    def __init__(
        self,
        base_url: str,
        timeout_sec: float,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        max_body_bytes: int = 1024 * 1024,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        shown = "[%s]" % self._host if ":" in self._host else self._host
        self._host_header = shown if parts.port is None else "%s:%d" % (shown, parts.port)
        self._tls: Optional[ssl.SSLContext] = None
        if parts.scheme == "https":
            self._tls = ssl.create_default_context(cafile=ca_file if verify_tls else None)
            if not verify_tls:
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
        self.deadline_sec = timeout_sec
        self.max_body_bytes = max_body_bytes
        self._sock: Optional[socket.socket] = None
        self._requests: dict = {}  # (path, headers) -> the request's bytes, built once
        self._lock = threading.Lock()

    def get(self, path: str, headers: Mapping[str, str], max_body_bytes: Optional[int] = None) -> HttpAnswer:
        cap = self.max_body_bytes if max_body_bytes is None else max_body_bytes
        request = self._request_bytes(path, headers)
        with self._lock:
            deadline = time.monotonic() + self.deadline_sec
            try:
                reused = self._sock is not None
                try:
                    return self._exchange(request, cap, deadline)
                except _Dropped:
                    if not reused:
                        raise
                    self.close()  # closed by the server while idle: once more on a new connection
                    return self._exchange(request, cap, deadline)
            except _Expired:
                self.close()
                raise HttpTransportError("no complete answer within %g s (timed out)" % self.deadline_sec) from None
            except _Dropped:
                self.close()
                raise HttpTransportError("connection closed by the server", connection_dropped=True) from None
            except ProtocolFailure as exc:
                self.close()
                if str(exc) == "tls":
                    raise HttpTransportError("the server speaks HTTPS on this port: use an https:// URL") from None
                raise HttpTransportError("not an HTTP answer (%s)" % exc) from None
            except (OSError, ValueError, zlib.error) as exc:  # socket, TLS and decoding errors
                self.close()
                raise HttpTransportError(describe_transport_error(exc)) from None

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:  # pragma: no cover - closing a broken socket
                pass

    # ------------------------------------------------------------------------------ one exchange

    def _request_bytes(self, path: str, headers: Mapping[str, str]) -> bytes:
        key = (path, tuple(headers.items()))
        request = self._requests.get(key)
        if request is None:
            lines = ["GET %s HTTP/1.1" % path, "Host: " + self._host_header]
            lines += ["%s: %s" % item for item in headers.items()]
            request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            if len(self._requests) < 16:
                self._requests[key] = request
        return request

    def _exchange(self, request: bytes, cap: int, deadline: float) -> HttpAnswer:
        if self._sock is None:
            self._sock = self._connect(deadline)
        sock = self._sock
        try:
            _wait_time(sock, deadline)
            sock.sendall(request)
        except socket.timeout:
            raise _Expired() from None
        except (BrokenPipeError, ConnectionResetError):
            raise _Dropped() from None
        buffer = bytearray()
        while True:  # 1xx answers are interim: the real one follows
            end = self._read_head(sock, buffer, deadline)
            status, version, headers = parse_head(bytes(buffer[:end]).rstrip(b"\r\n"))
            del buffer[: end + (4 if buffer[end:end + 4] == b"\r\n\r\n" else 2)]
            if not 100 <= status < 200 or status == 101:
                break
        body, complete, truncated = self._read_body(sock, buffer, status, headers, cap, deadline)
        connection = headers.get("connection", "").lower()
        keep = complete and not truncated and (
            "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
        )
        if not keep:
            self.close()
        encoding = headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "deflate", "x-gzip") and body:
            body, truncated = _decoded(body, encoding, cap, truncated)
        return HttpAnswer(status, Headers(headers), body, truncated)

    def _connect(self, deadline: float) -> socket.socket:
        try:
            sock = socket.create_connection((self._host, self._port), timeout=_left(deadline))
        except socket.timeout:
            raise HttpTransportError("connection timed out") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is None:
                return sock
            tls = self._tls.wrap_socket(sock, server_hostname=self._host, do_handshake_on_connect=False)
        except BaseException:
            sock.close()
            raise
        try:
            while True:  # each wait bounded by the time left: a trickled handshake ends at the deadline
                _wait_time(tls, deadline)
                try:
                    tls.do_handshake()
                    return tls
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):  # pragma: no cover - with a timeout set
                    continue
        except socket.timeout:
            tls.close()
            raise _Expired() from None
        except BaseException:
            tls.close()
            raise

    @staticmethod
    def _read_head(sock: socket.socket, buffer: bytearray, deadline: float) -> int:
        """The index of the head's end (its blank line) in `buffer`, reading as needed."""
        searched = 0
        while True:
            end = buffer.find(b"\r\n\r\n", max(searched - 3, 0))
            if end < 0:
                end = buffer.find(b"\n\n", max(searched - 1, 0))  # bare LF, as http.client tolerates
            if end >= 0:
                return end
            if buffer[:2] in (b"\x15\x03", b"\x16\x03"):
                raise ProtocolFailure("tls")  # a TLS record: a plain-HTTP request to an HTTPS port
            if len(buffer) > MAX_HEAD_BYTES:
                raise ProtocolFailure("a head over %d bytes" % MAX_HEAD_BYTES)
            searched = len(buffer)
            chunk = _recv(sock, deadline)
            if not chunk:
                if not buffer:
                    raise _Dropped()
                raise ProtocolFailure("the connection closed inside the head")
            buffer += chunk

    def _read_body(
        self, sock: socket.socket, buffer: bytearray, status: int, headers: Dict[str, str], cap: int,
        deadline: float,
    ) -> Tuple[bytes, bool, bool]:
        """(body, framed completely, truncated at the cap)."""
        if status in _NO_BODY:
            return b"", not buffer, False
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return _read_chunked(sock, buffer, cap, deadline)
        length = content_length(headers)
        if length is not None:
            if length > cap:
                return bytes(buffer[:cap]), False, True
            if len(buffer) >= length:
                return bytes(buffer[:length]), len(buffer) == length, False
            # the rest straight into a buffer of the final size: no copies, no growing
            body = bytearray(length)
            body[: len(buffer)] = buffer
            _recv_into(sock, memoryview(body)[len(buffer):], deadline)
            return body, True, False  # type: ignore[return-value] # a bytearray: no second copy of a big body
        while len(buffer) <= cap:  # no framing: the body ends with the connection
            chunk = _recv(sock, deadline)
            if not chunk:
                return bytes(buffer), False, False
            buffer += chunk
        return bytes(buffer[:cap]), False, True


def _read_chunked(sock: socket.socket, buffer: bytearray, cap: int, deadline: float) -> Tuple[bytes, bool, bool]:
    body = bytearray()
    pos = 0
    while True:
        line_end = buffer.find(b"\n", pos)
        while line_end < 0:
            if len(buffer) - pos > 1024:
                raise ProtocolFailure("a bad chunk size line")
            _more(sock, buffer, deadline)
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
                    _more(sock, buffer, deadline)
                    line_end = buffer.find(b"\n", pos)
                line = bytes(buffer[pos:line_end]).rstrip(b"\r")
                pos = line_end + 1
                if not line:
                    return bytes(body), len(buffer) == pos, False
        if len(body) + size > cap:
            body += buffer[pos:pos + cap - len(body)]
            return bytes(body), False, True
        while len(buffer) < pos + size + 2:
            _more(sock, buffer, deadline)
        body += buffer[pos:pos + size]
        if buffer[pos + size:pos + size + 2] == b"\r\n":
            pos += size + 2
        elif buffer[pos + size:pos + size + 1] == b"\n":
            pos += size + 1
        else:
            raise ProtocolFailure("a chunk without its line end")
        if pos > _RECV:  # keep the buffer small: drop what was consumed
            del buffer[:pos]
            pos = 0


def _more(sock: socket.socket, buffer: bytearray, deadline: float) -> None:
    chunk = _recv(sock, deadline)
    if not chunk:
        raise ProtocolFailure("the connection closed inside the body")
    buffer += chunk


def _decoded(body: bytes, encoding: str, cap: int, truncated: bool) -> Tuple[bytes, bool]:
    """A gzip/deflate body decoded, at most `cap` bytes of it (a small body may inflate hugely)."""
    wbits = 16 + zlib.MAX_WBITS if "gzip" in encoding else zlib.MAX_WBITS
    decoder = zlib.decompressobj(wbits)
    data = decoder.decompress(body, cap + 1)
    if len(data) > cap:
        return data[:cap], True
    return data, truncated


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Expired()
    return left


def _wait_time(sock: socket.socket, deadline: float) -> None:
    sock.settimeout(_left(deadline))


def _recv_into(sock: socket.socket, view: memoryview, deadline: float) -> None:
    """Fills `view` from the socket, or raises (closed early, deadline)."""
    while len(view):
        _wait_time(sock, deadline)
        try:
            got = sock.recv_into(view)
        except socket.timeout:
            raise _Expired() from None
        if not got:
            raise ProtocolFailure("the connection closed inside the body")
        view = view[got:]


def _recv(sock: socket.socket, deadline: float, wanted: int = _RECV) -> bytes:
    _wait_time(sock, deadline)
    try:
        return sock.recv(max(min(wanted, _RECV), 1))
    except socket.timeout:
        raise _Expired() from None
    except ConnectionResetError:
        return b""
