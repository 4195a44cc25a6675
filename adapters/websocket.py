"""A small RFC 6455 WebSocket client on the standard library, for the media servers' push channels.

What it does: the opening handshake (checked, Sec-WebSocket-Accept included) within one deadline,
masked client frames, fragmented messages reassembled, pings answered with pongs, the closing
handshake, and a cap on each message's size (checked from the frame header, before the payload
is read, so a hostile server cannot make it buffer a gigabyte). ws:// and wss:// take the same TLS
options as HttpClient. No extensions and no subprotocols are offered, so none may be used.

Errors are WebSocketError values whose `str()` is a short reason in plain words, never the URL:
the media servers take the API key in the query string, and URLs are where secrets hide.
`url_for_log(url)` gives the form of a URL that may be logged (no userinfo, no query).
"""
from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import struct
import threading
import time
from typing import Dict, List, Mapping, Optional, Tuple, Union
from urllib.parse import SplitResult, urlsplit

from adapters.http import printable_url

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HANDSHAKE_BYTES = 16 * 1024  # the status line and headers of the server's answer
OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA_OPS = (OP_CONT, OP_TEXT, OP_BINARY)
_CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)


class WebSocketError(Exception):
    """The connection failed or broke. `str()` is a plain reason without any URL."""


class HandshakeRefused(WebSocketError):
    """The server answered the upgrade request, but not with a valid 101. `status` is its status
    code (None when the answer was not HTTP or its Sec-WebSocket-Accept was wrong)."""

    def __init__(self, reason: str, status: Optional[int] = None) -> None:
        super().__init__(reason)
        self.status = status


class MessageTooBig(WebSocketError):
    """A message over the cap (the connection is closed with 1009)."""


class ConnectionClosed(WebSocketError):
    """The server closed the connection (with a close frame, or by dropping it)."""

    def __init__(self, reason: str, code: Optional[int] = None) -> None:
        super().__init__(reason)
        self.code = code


class WebSocketTimeout(WebSocketError):
    """recv() waited its timeout without a complete message; the connection is still usable."""


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value that proves the server read our Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


def mask(key: bytes, data: bytes) -> bytes:
    """XOR `data` with the 4-byte `key` repeated (one big-integer XOR instead of a Python loop)."""
    n = len(data)
    if not n:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def url_for_log(url: str) -> str:
    """What of a WebSocket URL may appear in a log: no userinfo, no query (the API key travels there)."""
    return printable_url(url)


def tls_context(verify_tls: bool = True, ca_file: Optional[str] = None) -> ssl.SSLContext:
    """The TLS settings HttpClient uses: verified against the system store or `ca_file`, or not at all."""
    if verify_tls:
        return ssl.create_default_context(cafile=ca_file or None)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _describe_os_error(exc: BaseException) -> str:
    # Built from the type only, like adapters.http.describe_transport_error: never the text.
    if isinstance(exc, ssl.SSLCertVerificationError):
        return "TLS certificate not trusted (set the *_ca_file option, or *_verify_tls to false)"
    if isinstance(exc, ssl.SSLError):
        return "TLS handshake failed (is the server HTTPS? for a plain-HTTP server use an http:// URL)"
    if isinstance(exc, socket.gaierror):
        return "host name not found"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, ConnectionResetError):
        return "connection reset by the server"
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return "timed out"
    return "connection failed (%s)" % type(exc).__name__


class WebSocket:
    """One open connection. recv() from one thread; send_*() and close() from any (they share a lock);
    shutdown() from any thread cuts a blocked recv() short."""

    def __init__(self, sock: socket.socket, max_message_bytes: int, buffered: bytes = b"") -> None:
        self._sock = sock
        self.max_message_bytes = max_message_bytes
        self._buf = bytearray(buffered)
        self._send_lock = threading.Lock()
        self._fragments: List[bytes] = []
        self._fragment_op: Optional[int] = None
        self._fragment_bytes = 0
        self._close_sent = False
        self.closed = False
        self.last_frame_at = time.monotonic()  # when the server last sent any frame (pongs included)

    # -- receiving -------------------------------------------------------------------------------
    def recv(self, timeout: Optional[float] = None) -> Union[str, bytes]:
        """The next message: str for text, bytes for binary. Pings are answered and pongs skipped on
        the way. Raises WebSocketTimeout when `timeout` passes first (nothing is lost: a partial frame
        stays buffered), ConnectionClosed when the server closes, MessageTooBig, or WebSocketError."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            fin, opcode, payload = self._next_frame(deadline)
            if opcode == OP_PING:
                self._send_frame(OP_PONG, payload)
                continue
            if opcode == OP_PONG:
                continue
            if opcode == OP_CLOSE:
                self._on_close(payload)
            message = self._collect(fin, opcode, payload)
            if message is not None:
                return message

    def _collect(self, fin: bool, opcode: int, payload: bytes) -> Optional[Union[str, bytes]]:
        if opcode == OP_CONT:
            if self._fragment_op is None:
                self._fail(1002, "a continuation frame without a message to continue")
        else:
            if self._fragment_op is not None:
                self._fail(1002, "a new message before the last one ended")
            self._fragment_op = opcode
        self._fragments.append(payload)
        if not fin:
            return None
        data, op = b"".join(self._fragments), self._fragment_op
        self._fragments, self._fragment_op, self._fragment_bytes = [], None, 0
        if op == OP_BINARY:
            return data
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            self._fail(1007, "a text message that is not UTF-8")
        raise AssertionError("unreachable")  # pragma: no cover

    def _next_frame(self, deadline: Optional[float]) -> Tuple[bool, int, bytes]:
        while True:
            frame = self._parse_frame()
            if frame is not None:
                return frame
            self._receive_more(deadline)

    def _parse_frame(self) -> Optional[Tuple[bool, int, bytes]]:
        """One complete frame from the buffer (consumed), or None when more bytes are needed.
        Checks the header, including the size cap, as soon as the header is complete."""
        buf = self._buf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        fin, opcode, masked, length = bool(b0 & 0x80), b0 & 0x0F, bool(b1 & 0x80), b1 & 0x7F
        if b0 & 0x70:
            self._fail(1002, "a frame with reserved bits set (no extension was agreed)")
        if opcode not in _DATA_OPS + _CONTROL_OPS:
            self._fail(1002, "a frame with an unknown opcode")
        if masked:
            self._fail(1002, "a masked frame from the server")
        head = 2
        if length == 126:
            if len(buf) < 4:
                return None
            length, head = struct.unpack_from("!H", buf, 2)[0], 4
        elif length == 127:
            if len(buf) < 10:
                return None
            length, head = struct.unpack_from("!Q", buf, 2)[0], 10
        if opcode in _CONTROL_OPS and (length > 125 or not fin):
            self._fail(1002, "a control frame that is fragmented or over 125 bytes")
        if opcode in _DATA_OPS and self._fragment_bytes + length > self.max_message_bytes:
            self._fail(1009, "a message over %d bytes" % self.max_message_bytes, MessageTooBig)
        if len(buf) < head + length:
            return None
        self.last_frame_at = time.monotonic()
        payload = bytes(buf[head:head + length])
        del buf[:head + length]
        if opcode in _DATA_OPS:
            self._fragment_bytes += length
        return fin, opcode, payload

    def _receive_more(self, deadline: Optional[float]) -> None:
        if self.closed:
            raise ConnectionClosed("the connection is closed")
        try:
            if deadline is None:
                self._sock.settimeout(None)
            else:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise WebSocketTimeout("no message in time")
                self._sock.settimeout(left)
            chunk = self._sock.recv(65536)
        except (socket.timeout, TimeoutError):
            raise WebSocketTimeout("no message in time") from None
        except (OSError, ValueError) as exc:
            self.closed = True
            raise ConnectionClosed("connection lost (%s)" % _describe_os_error(exc)) from None
        if not chunk:
            self.closed = True
            raise ConnectionClosed("the server dropped the connection")
        self._buf += chunk

    def _on_close(self, payload: bytes) -> None:
        code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
        try:
            self._send_frame(OP_CLOSE, payload[:2])  # echo the code, as RFC 6455 5.5.1 asks
        except WebSocketError:
            pass
        self._drop()
        raise ConnectionClosed("the server closed the connection" + ("" if code is None else " (%d)" % code), code)

    def _fail(self, code: int, reason: str, kind: type = WebSocketError) -> None:
        """A protocol violation by the server: close with `code` and raise."""
        try:
            self._send_frame(OP_CLOSE, struct.pack("!H", code))
        except WebSocketError:
            pass
        self._drop()
        raise kind("the server sent %s" % reason)

    # -- sending ---------------------------------------------------------------------------------
    def send_text(self, text: str) -> None:
        self._send_frame(OP_TEXT, text.encode("utf-8"))

    def send_binary(self, data: bytes) -> None:
        self._send_frame(OP_BINARY, data)

    def ping(self, payload: bytes = b"") -> None:
        self._send_frame(OP_PING, payload[:125])

    def close(self, code: int = 1000, timeout: float = 1.0) -> None:
        """Send a close frame (once) and drop the connection; never raises. A short wait for the
        server's answer is not worth it here: nothing more is read from a closing push channel."""
        try:
            self._sock.settimeout(timeout)
            self._send_frame(OP_CLOSE, struct.pack("!H", code))
        except (WebSocketError, OSError):
            pass
        self._drop()

    def _send_frame(self, opcode: int, payload: bytes) -> None:
        with self._send_lock:
            if self._close_sent:
                return
            if opcode == OP_CLOSE:
                self._close_sent = True
            n = len(payload)
            if n < 126:
                header = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
            elif n < 65536:
                header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
            else:
                header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
            key = os.urandom(4)
            try:
                self._sock.sendall(header + key + mask(key, payload))
            except (OSError, ValueError) as exc:
                self.closed = True
                raise ConnectionClosed("connection lost while sending (%s)" % _describe_os_error(exc)) from None

    # -- ending ----------------------------------------------------------------------------------
    def shutdown(self) -> None:
        """Shut the socket down from any thread: a recv() blocked on it returns at once."""
        try:
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)  # the plain call, also under TLS
        except (OSError, ValueError):
            pass

    def _drop(self) -> None:
        self.closed = True
        self.shutdown()
        try:
            self._sock.close()
        except OSError:  # pragma: no cover
            pass


def connect(
    url: str,
    headers: Optional[Mapping[str, str]] = None,
    timeout_sec: float = 10.0,
    verify_tls: bool = True,
    ca_file: Optional[str] = None,
    max_message_bytes: int = 1024 * 1024,
    handshake_deadline_sec: Optional[float] = None,
) -> WebSocket:
    """Open a WebSocket to `url` (ws://, wss://; http:// and https:// are read as those).

    Connect, TLS and the whole opening handshake finish within `handshake_deadline_sec` (default
    `timeout_sec`), however slowly the server trickles its answer. Raises HandshakeRefused for an
    answer that is not a valid upgrade, WebSocketError for everything else; never with the URL.
    """
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise WebSocketError("not a valid ws:// or wss:// URL") from None
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not host:
        raise WebSocketError("not a valid ws:// or wss:// URL")
    secure = scheme == "wss"
    port = port or (443 if secure else 80)
    deadline_sec = timeout_sec if handshake_deadline_sec is None else handshake_deadline_sec
    deadline = time.monotonic() + deadline_sec
    expired = threading.Event()
    holder: List[socket.socket] = []

    def cut() -> None:  # the backstop for steps that have no timeout of their own (TLS)
        expired.set()
        for s in holder:
            try:
                socket.socket.shutdown(s, socket.SHUT_RDWR)
            except (OSError, ValueError):
                pass

    timer = threading.Timer(deadline_sec, cut)
    timer.daemon = True
    timer.start()
    sock: Optional[socket.socket] = None
    try:
        try:
            sock = socket.create_connection((host, port), timeout=max(0.01, min(timeout_sec, deadline_sec)))
            holder.append(sock)
            if secure:
                sock.settimeout(max(0.01, deadline - time.monotonic()))
                sock = tls_context(verify_tls, ca_file).wrap_socket(sock, server_hostname=host)
            key = base64.b64encode(os.urandom(16)).decode("ascii")
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            sock.sendall(_request(parts, host, port, secure, key, headers or {}))
            status, answer_headers, rest = _read_answer(sock, deadline)
        except (OSError, ValueError, HandshakeRefused) as exc:
            # the deadline's cut looks like a closed connection: report it as what it is
            if expired.is_set() or time.monotonic() >= deadline:
                raise WebSocketError("no complete handshake within %g s (timed out)" % deadline_sec) from None
            if isinstance(exc, HandshakeRefused):
                raise
            raise WebSocketError(_describe_os_error(exc)) from None
        if status != 101:
            raise HandshakeRefused("the server answered %d instead of switching protocols" % status, status)
        if answer_headers.get("upgrade", "").lower() != "websocket" or "upgrade" not in [
            t.strip().lower() for t in answer_headers.get("connection", "").split(",")
        ]:
            raise HandshakeRefused("the server's 101 answer lacks the WebSocket upgrade headers", None)
        if answer_headers.get("sec-websocket-accept", "") != accept_key(key):
            raise HandshakeRefused("the server's Sec-WebSocket-Accept does not match our key", None)
        if answer_headers.get("sec-websocket-extensions") or answer_headers.get("sec-websocket-protocol"):
            raise HandshakeRefused("the server chose an extension or subprotocol we did not offer", None)
    except BaseException:
        timer.cancel()
        if sock is not None:
            try:
                sock.close()
            except OSError:  # pragma: no cover
                pass
        raise
    timer.cancel()
    if expired.is_set():  # the timer fired as we finished: the socket may already be shut
        sock.close()
        raise WebSocketError("no complete handshake within %g s (timed out)" % deadline_sec)
    sock.settimeout(None)
    return WebSocket(sock, max_message_bytes, rest)


def _request(parts: SplitResult, host: str, port: int, secure: bool, key: str, headers: Mapping[str, str]) -> bytes:
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    shown_host = "[%s]" % host if ":" in host else host
    if port != (443 if secure else 80):
        shown_host += ":%d" % port
    lines = [
        "GET %s HTTP/1.1" % target,
        "Host: %s" % shown_host,
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: %s" % key,
        "Sec-WebSocket-Version: 13",
    ]
    for name, value in headers.items():
        if any(ch in name + value for ch in "\r\n"):
            raise ValueError("a header with a line break")
        lines.append("%s: %s" % (name, value))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _read_answer(sock: socket.socket, deadline: float) -> Tuple[int, Dict[str, str], bytes]:
    """(status, headers with lower-case names, bytes after the headers), read within the deadline."""
    data = b""
    while b"\r\n\r\n" not in data:
        if len(data) > MAX_HANDSHAKE_BYTES:
            raise HandshakeRefused("the server's answer has over %d bytes of headers" % MAX_HANDSHAKE_BYTES)
        left = deadline - time.monotonic()
        if left <= 0:
            raise socket.timeout()
        sock.settimeout(left)
        chunk = sock.recv(4096)
        if not chunk:
            raise HandshakeRefused("the server closed the connection during the handshake")
        data += chunk
    head, rest = data.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    fields = lines[0].split(" ", 2)
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        raise HandshakeRefused("the server did not answer in HTTP")
    headers: Dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            name = name.strip().lower()
            headers[name] = (headers[name] + ", " if name in headers else "") + value.strip()
    return int(fields[1]), headers, rest
