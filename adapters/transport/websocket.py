"""A small RFC 6455 WebSocket client on the standard library, for the media servers' push channels.

What it does: the opening handshake (checked, Sec-WebSocket-Accept included) within one deadline,
masked client frames, fragmented messages reassembled, pings answered with pongs, the closing
handshake, and a cap on each message's size (checked from the frame header, before the payload
is read, so a hostile server cannot make it buffer a gigabyte). ws:// and wss:// take the same TLS
options as HttpClient. No extensions and no subprotocols are offered, so none may be used.

Errors are WebSocketError values whose `str()` is a short reason in plain words, never the URL:
the media servers take the API key in the query string, and URLs are where secrets hide.
`url_for_log(url)` gives the form of a URL that may be logged (no userinfo, no query).

This module is the client's one import: `connect()` and the opening handshake are
adapters/transport/websocket_handshake.py, the open connection (framing, reading messages) is
adapters/transport/websocket_connection.py, the errors are adapters/transport/websocket_errors.py; their names are
re-exported here.
"""
from __future__ import annotations

from adapters.transport.websocket_connection import (
    OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, WebSocket, mask,
)
from adapters.transport.websocket_errors import (
    ConnectionClosed, HandshakeRefused, MessageTooBig, WebSocketError, WebSocketTimeout,
)
from adapters.transport.websocket_handshake import GUID, MAX_HANDSHAKE_BYTES, accept_key, connect, tls_context, url_for_log

__all__ = [
    # re-exported: adapters/transport/websocket_handshake.py
    "GUID", "MAX_HANDSHAKE_BYTES", "accept_key", "connect", "tls_context", "url_for_log",
    # re-exported: adapters/transport/websocket_connection.py
    "OP_BINARY", "OP_CLOSE", "OP_CONT", "OP_PING", "OP_PONG", "OP_TEXT", "WebSocket", "mask",
    # re-exported: adapters/transport/websocket_errors.py
    "ConnectionClosed", "HandshakeRefused", "MessageTooBig", "WebSocketError", "WebSocketTimeout",
]
