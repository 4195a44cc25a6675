"""One WebSocket connection on the websocket-client library, with what the library leaves unbounded
bounded; adapters/transport/bounded_websocket.py opens it.

websocket-client (pinned in requirements.lock) does the protocol: masked client frames, pongs, the
closing handshake. Read in its source (1.9.2), it bounds nothing a server sends: a frame's payload is
read whole whatever length its header announces, continuation frames are joined with `bytes +=` and
never counted, and pings are answered inside its receive loop without returning. So:

- each frame header is checked before its payload is read (`_CheckedFrames`): an unknown opcode,
  reserved bits, a masked or oversized control frame, or a data frame that would take the message
  past `max_message_bytes` ends the connection there, however many gigabytes it announces;
- a message is collected as a list of fragments (`_CountedMessage`), at most `max_fragments` of them,
  so endless 1-byte continuation frames end the connection with a few KiB held;
- `recv()` returns after every control frame too, so the caller keeps its own schedule, and more than
  `max_control_frames` control frames within `control_window_sec` (a ping flood) end the connection.

Errors are WebSocketError values whose `str()` is a short reason in plain words, built here and never
from the library's text or the URL: the media servers take the API key in the query string.
"""
from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from typing import Callable, List, Optional, Union

import websocket
from websocket import ABNF, continuous_frame, frame_buffer

from adapters.transport.errors import describe_transport_error

_DATA_OPS = (ABNF.OPCODE_CONT, ABNF.OPCODE_TEXT, ABNF.OPCODE_BINARY)
_CONTROL_OPS = (ABNF.OPCODE_CLOSE, ABNF.OPCODE_PING, ABNF.OPCODE_PONG)
CLOSE_TOO_BIG, CLOSE_PROTOCOL_ERROR = 1009, 1002


@dataclass(frozen=True)
class WebSocketLimits:
    """What one connection may cost. The defaults suit a media server's push channel: a Sessions
    message is the /Sessions list, a few KiB per session, sent in one frame."""

    max_message_bytes: int = 8 * 1024 * 1024
    max_fragments: int = 1024
    max_control_frames: int = 100  # pings and pongs within one control window
    control_window_sec: float = 10.0
    open_timeout_sec: float = 10.0  # connect, TLS and the opening handshake together
    close_timeout_sec: float = 1.0  # sending the close frame


class WebSocketError(Exception):
    """The connection failed or broke. `str()` is a plain reason without any URL."""


class HandshakeRefused(WebSocketError):
    """The server answered the upgrade request, but not with a valid 101. `status` is its status code
    (None when the answer was not HTTP or not a valid upgrade, e.g. a wrong Sec-WebSocket-Accept)."""

    def __init__(self, reason: str, status: Optional[int] = None) -> None:
        super().__init__(reason)
        self.status = status


class MessageTooBig(WebSocketError):
    """A message over the cap, in bytes or in fragments (the connection is closed with 1009)."""


class ConnectionClosed(WebSocketError):
    """The server closed the connection (with a close frame, or by dropping it)."""

    def __init__(self, reason: str, code: Optional[int] = None) -> None:
        super().__init__(reason)
        self.code = code


class WebSocketTimeout(WebSocketError):
    """recv() waited its timeout without a frame; the connection is still usable (a partial frame
    stays in the library's buffer)."""


class _CountedMessage(continuous_frame):
    """The message being received, as a list of fragments: counted, and joined once at the end
    (the library's `bytes +=` copies the whole message again for every fragment)."""

    def __init__(self, limits: WebSocketLimits) -> None:
        super().__init__(fire_cont_frame=False, skip_utf8_validation=False)
        self._limits = limits
        self._chunks: List[bytes] = []
        self._opcode = ABNF.OPCODE_TEXT
        self.pending_bytes = 0

    def add(self, frame: ABNF) -> None:
        if frame.opcode != ABNF.OPCODE_CONT:  # validate() made sure no message was under way
            self._opcode, self._chunks, self.pending_bytes = frame.opcode, [], 0
            self.recving_frames = frame.opcode
        if len(self._chunks) >= self._limits.max_fragments:
            raise MessageTooBig("the server sent a message in over %d fragments" % self._limits.max_fragments)
        self._chunks.append(frame.data)
        self.pending_bytes += len(frame.data)
        if frame.fin:
            self.cont_data = [self._opcode, b"".join(self._chunks)]
            self._chunks, self.pending_bytes, self.recving_frames = [], 0, None


class _CheckedFrames(frame_buffer):
    """The library's frame reader, with the header checked as soon as the length is known."""

    def __init__(self, recv_fn: Callable[[int], bytes], limits: WebSocketLimits, message: _CountedMessage) -> None:
        super().__init__(recv_fn, skip_utf8_validation=False)
        self._limits, self._message = limits, message

    def recv_length(self) -> None:
        super().recv_length()
        fin, rsv1, rsv2, rsv3, opcode, masked, _ = self.header or (0, 0, 0, 0, 0, 0, 0)
        length = self.length or 0
        if opcode not in _DATA_OPS + _CONTROL_OPS:
            raise websocket.WebSocketProtocolException("a frame with an unknown opcode")
        if rsv1 or rsv2 or rsv3:
            raise websocket.WebSocketProtocolException("a frame with reserved bits set (no extension was agreed)")
        if masked:
            raise websocket.WebSocketProtocolException("a masked frame from the server")
        if opcode in _CONTROL_OPS and (length > 125 or not fin):
            raise websocket.WebSocketProtocolException("a control frame that is fragmented or over 125 bytes")
        if opcode in _DATA_OPS and self._message.pending_bytes + length > self._limits.max_message_bytes:
            raise MessageTooBig("the server sent a message over %d bytes" % self._limits.max_message_bytes)


class LibraryWebSocket(websocket.WebSocket):
    """The library's connection with the checked frame reader and the counted message in place."""

    def __init__(self, limits: WebSocketLimits) -> None:
        super().__init__(enable_multithread=True, skip_utf8_validation=False)
        self.cont_frame = _CountedMessage(limits)
        self.frame_buffer = _CheckedFrames(self._recv, limits, self.cont_frame)


class BoundedWebSocket:
    """One open connection. recv() from one thread; send_text(), ping() and close() from any."""

    def __init__(self, library_socket: LibraryWebSocket, sock: socket.socket, limits: WebSocketLimits) -> None:
        """`sock` is the socket the library reads, TLS or not (shut down from any thread to wake it)."""
        self._ws, self._sock, self._limits = library_socket, sock, limits
        self._window_start = time.monotonic()
        self._control_frames = 0
        self.last_frame_at = time.monotonic()  # when the server last sent any frame (pongs included)

    def recv(self, timeout: Optional[float] = None) -> Union[str, bytes, None]:
        """The next message (str for text, bytes for binary), or None after a control frame (a ping
        is answered on the way). Raises WebSocketTimeout when `timeout` passes first, ConnectionClosed
        when the server closes, MessageTooBig, or WebSocketError for a protocol violation."""
        try:
            self._ws.settimeout(timeout)
            opcode, frame = self._ws.recv_data_frame(control_frame=True)
        except MessageTooBig:
            self._fail(CLOSE_TOO_BIG)
            raise
        except websocket.WebSocketTimeoutException:
            raise WebSocketTimeout("no message in time") from None
        except websocket.WebSocketConnectionClosedException:
            self._drop()
            raise ConnectionClosed("the server dropped the connection") from None
        except (websocket.WebSocketProtocolException, websocket.WebSocketPayloadException) as exc:
            self._fail(CLOSE_PROTOCOL_ERROR)
            raise WebSocketError("the server sent %s" % _plain_violation(exc)) from None
        except (OSError, ValueError, websocket.WebSocketException) as exc:
            self._drop()
            raise ConnectionClosed("connection lost (%s)" % describe_transport_error(exc)) from None
        self.last_frame_at = time.monotonic()
        if opcode == ABNF.OPCODE_CLOSE:  # the library has answered it
            self._drop()
            data = frame.data
            code = int.from_bytes(data[:2], "big") if len(data) >= 2 else None
            raise ConnectionClosed("the server closed the connection" + ("" if code is None else " (%d)" % code), code)
        if opcode in _CONTROL_OPS:
            self._count_control_frame()
            return None
        if opcode == ABNF.OPCODE_BINARY:
            return bytes(frame.data)
        try:
            return bytes(frame.data).decode("utf-8")
        except UnicodeDecodeError:
            self._fail(1007)
            raise WebSocketError("the server sent a text message that is not UTF-8") from None

    def _count_control_frame(self) -> None:
        now = self.last_frame_at
        if now - self._window_start > self._limits.control_window_sec:
            self._window_start, self._control_frames = now, 0
        self._control_frames += 1
        if self._control_frames > self._limits.max_control_frames:
            self._fail(CLOSE_PROTOCOL_ERROR)
            raise WebSocketError("the server sent over %d pings or pongs in %g s" % (
                self._limits.max_control_frames, self._limits.control_window_sec))

    def send_text(self, text: str) -> None:
        self._send(lambda: self._ws.send_text(text))

    def ping(self, payload: bytes = b"") -> None:
        self._send(lambda: self._ws.ping(payload[:125]))

    def _send(self, action: Callable[[], object]) -> None:
        try:
            action()
        except (OSError, ValueError, websocket.WebSocketException) as exc:
            self._drop()
            raise ConnectionClosed("connection lost while sending (%s)" % describe_transport_error(exc)) from None

    def close(self, code: int = 1000) -> None:
        """Send a close frame (within the close timeout) and drop the connection; never raises. No
        wait for the server's answer: nothing more is read from a closing push channel."""
        self._fail(code)

    def _fail(self, code: int) -> None:
        try:
            self._sock.settimeout(self._limits.close_timeout_sec)
            if self._ws.connected:
                self._ws.send_close(code)
        except (OSError, ValueError, websocket.WebSocketException):
            pass
        self._drop()

    def shutdown(self) -> None:
        """Shut the socket down from any thread: a recv() blocked on it returns at once."""
        shut(self._sock)

    def _drop(self) -> None:
        self.shutdown()
        self._ws.shutdown()


def _plain_violation(exc: BaseException) -> str:
    """Our own reasons (raised by _CheckedFrames) as they are; the library's by kind only."""
    text = str(exc)
    if text.startswith("a "):
        return text
    if isinstance(exc, websocket.WebSocketPayloadException):
        return "a text message that is not UTF-8"
    return "a frame that breaks the protocol"


def shut(sock: socket.socket) -> None:
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)  # the plain call, also under TLS
    except (OSError, ValueError):
        pass
