"""Opening a WebSocket (RFC 6455): the URL, TCP and TLS, and the opening handshake, within one deadline.

The handshake is checked, Sec-WebSocket-Accept included. ws:// and wss:// take the same TLS options
as HttpClient. No extensions and no subprotocols are offered, so none may be used. The open
connection is a WebSocket (adapters/transport/websocket_connection.py).
"""
from __future__ import annotations

import base64
import hashlib
import os
import socket
import ssl
import threading
import time
from typing import Dict, List, Mapping, Optional, Tuple
from urllib.parse import SplitResult, urlsplit

from adapters.transport.headers import unfit_for_header
from adapters.transport.http import printable_url
from adapters.transport.websocket_connection import WebSocket
from adapters.transport.websocket_errors import HandshakeRefused, WebSocketError, describe_os_error

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_HANDSHAKE_BYTES = 16 * 1024  # the status line and headers of the server's answer


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value that proves the server read our Sec-WebSocket-Key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest()).decode("ascii")


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
            raise WebSocketError(describe_os_error(exc)) from None
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
        if unfit_for_header(name + value):
            raise ValueError("a header with a line break, a control character or a character beyond Latin-1")
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
