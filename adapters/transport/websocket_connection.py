"""One open WebSocket connection (RFC 6455): masked client frames, fragmented messages reassembled,
pings answered with pongs, the closing handshake, and a cap on each message's size.

The cap is checked from the frame header, before the payload is read, so a hostile server cannot
make it buffer a gigabyte. adapters/transport/websocket_handshake.py opens the connection this class carries.
"""
from __future__ import annotations

import os
import socket
import struct
import threading
import time
from typing import List, Optional, Tuple, Union

from adapters.transport.websocket_errors import (
    ConnectionClosed, MessageTooBig, WebSocketError, WebSocketTimeout, describe_os_error,
)

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
_DATA_OPS = (OP_CONT, OP_TEXT, OP_BINARY)
_CONTROL_OPS = (OP_CLOSE, OP_PING, OP_PONG)


def mask(key: bytes, data: bytes) -> bytes:
    """XOR `data` with the 4-byte `key` repeated (one big-integer XOR instead of a Python loop)."""
    n = len(data)
    if not n:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


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
            raise ConnectionClosed("connection lost (%s)" % describe_os_error(exc)) from None
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
                raise ConnectionClosed("connection lost while sending (%s)" % describe_os_error(exc)) from None

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
