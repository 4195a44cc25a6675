"""The errors of the WebSocket client (adapters/transport/websocket.py), and the plain words for a socket error.

Every `str()` is a short reason in plain words, never the URL: the media servers take the API key
in the query string, and URLs are where secrets hide.
"""
from __future__ import annotations

import socket
import ssl
from typing import Optional


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


def describe_os_error(exc: BaseException) -> str:
    """A socket or TLS error in plain words, for the handshake and for a connection that broke."""
    # Built from the type only, like adapters.transport.http.describe_transport_error: never the text.
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
