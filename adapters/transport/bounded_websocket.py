"""Opening a WebSocket on the websocket-client library: TCP and TLS here, the handshake by the library,
all within one deadline. The open connection is a BoundedWebSocket
(adapters/transport/bounded_websocket_frames.py, which says what the library leaves unbounded).

The TCP connection and TLS are opened here, with HttpClient's TLS settings, so no proxy is taken
from the environment. The library sends the upgrade request and checks the answer (status 101, the
Upgrade headers, Sec-WebSocket-Accept); redirects are not followed (the Authorization header must not
travel to another host), and an answer that agrees to an extension we never offered is refused. The
library reads the answer with the socket's timeout per read, so a server trickling it would hold the
handshake for ever: the watchdog (adapters/transport/deadline.py) shuts the socket down when the
open timeout has passed, whatever step is under way. It also reads a refusal's whole body, as long as
its Content-Length says (measured: some 50 MB within a 10 s deadline on loopback), so it reads the
answer through `_AnswerBudget`: at most MAX_ANSWER_BYTES until the connection is open.
"""
from __future__ import annotations

import socket
import ssl
import threading
import time
from typing import Any, List, Mapping, Optional
from urllib.parse import urlsplit

import websocket

from adapters.transport.bounded_websocket_frames import (
    BoundedWebSocket, HandshakeRefused, WebSocketError, WebSocketLimits, LibraryWebSocket, shut,
)
from adapters.transport.deadline import WATCHDOG
from adapters.transport.errors import describe_transport_error
from adapters.transport.http import printable_url

MAX_ANSWER_BYTES = 64 * 1024  # the status line, the headers and any body of the server's answer


class _AnswerTooLong(Exception):
    pass


class _AnswerBudget:
    """The socket as the library sees it: reads count against `budget` until it is set to None."""

    def __init__(self, sock: socket.socket, budget: Optional[int]) -> None:
        self._sock, self.budget = sock, budget

    def recv(self, size: int) -> bytes:
        data = self._sock.recv(size)
        if self.budget is not None:
            self.budget -= len(data)
            if self.budget < 0:
                raise _AnswerTooLong()
        return data

    def __getattr__(self, name: str) -> Any:  # everything else is the socket's own
        return getattr(self._sock, name)


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


def open_websocket(
    url: str,
    headers: Optional[Mapping[str, str]] = None,
    limits: WebSocketLimits = WebSocketLimits(),
    verify_tls: bool = True,
    ca_file: Optional[str] = None,
) -> BoundedWebSocket:
    """Open a WebSocket to `url` (ws://, wss://; http:// and https:// are read as those) within
    `limits.open_timeout_sec`. Raises HandshakeRefused for an answer that is not a valid upgrade,
    WebSocketError for everything else; never with the URL."""
    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise WebSocketError("not a valid ws:// or wss:// URL") from None
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not host:
        raise WebSocketError("not a valid ws:// or wss:// URL")
    secure = scheme == "wss"
    timeout = limits.open_timeout_sec
    expired = threading.Event()
    opened: List[socket.socket] = []

    def cut() -> None:
        expired.set()
        for sock in opened:
            shut(sock)

    watch = WATCHDOG.arm(time.monotonic() + timeout, cut)
    library = LibraryWebSocket(limits)
    try:
        try:
            raw = socket.create_connection((host, port or (443 if secure else 80)), timeout=timeout)
            opened.append(raw)
            sock = raw
            if secure:  # wrapping detaches `raw`: from here on the watchdog must shut the TLS socket
                sock = tls_context(verify_tls, ca_file).wrap_socket(raw, server_hostname=host,
                                                                     do_handshake_on_connect=False)
                opened.append(sock)
                sock.do_handshake()
            budgeted = _AnswerBudget(sock, MAX_ANSWER_BYTES)
            library.connect(scheme + url[url.index(":"):], socket=budgeted, header=dict(headers or {}),
                            redirect_limit=0, suppress_origin=True)
            budgeted.budget = None  # from here on the frame checks bound what is read
        except _AnswerTooLong:
            raise HandshakeRefused("the server's answer to the upgrade is over %d bytes" % MAX_ANSWER_BYTES) from None
        except websocket.WebSocketBadStatusException as exc:
            raise HandshakeRefused("the server answered %d instead of switching protocols" % exc.status_code,
                                   exc.status_code) from None
        except (OSError, ValueError, websocket.WebSocketException) as exc:
            raise _opening_error(exc, library, expired.is_set(), timeout) from None
        answer = library.getheaders() or {}
        if answer.get("sec-websocket-extensions") or answer.get("sec-websocket-protocol"):
            library.shutdown()
            raise HandshakeRefused("the server chose an extension or subprotocol we did not offer")
    finally:
        WATCHDOG.cancel(watch)
    if expired.is_set():  # the deadline passed as the handshake finished: the socket may be shut
        library.shutdown()
        raise WebSocketError("no complete handshake within %g s (timed out)" % timeout)
    return BoundedWebSocket(library, sock, limits)


def _opening_error(exc: BaseException, library: LibraryWebSocket, expired: bool, timeout: float) -> WebSocketError:
    """What went wrong while opening, in plain words (the library's own text may quote the server)."""
    if library.sock is not None:
        library.shutdown()
    if expired or isinstance(exc, (websocket.WebSocketTimeoutException, socket.timeout, TimeoutError)):
        return WebSocketError("no complete handshake within %g s (timed out)" % timeout)
    answered = library.handshake_response
    if answered is not None:  # a redirect, which is not followed
        return HandshakeRefused("the server answered %d instead of switching protocols" % answered.status,
                                answered.status)
    if isinstance(exc, websocket.WebSocketConnectionClosedException):
        return HandshakeRefused("the server closed the connection during the handshake")
    if isinstance(exc, websocket.WebSocketException) and str(exc) == "Invalid WebSocket Header":
        return HandshakeRefused("the server's answer is not a valid WebSocket upgrade "
                                "(wrong Sec-WebSocket-Accept or Upgrade headers)")
    if isinstance(exc, websocket.WebSocketException):
        return HandshakeRefused("the server did not answer in HTTP")
    return WebSocketError(describe_transport_error(exc))
