"""Transport failures in plain words: built from the exception's type and errno only, never from its
text (urllib3's messages can hold the full URL, and a URL is where a secret could hide)."""
from __future__ import annotations

import errno
import http.client
import socket
import ssl
from typing import List, Optional

from urllib3 import exceptions as u3


class HttpTransportError(Exception):
    """No (complete) answer. `str()` is a short reason in plain words, never a URL."""

    def __init__(self, reason: str, connection_dropped: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        # the server closed a kept-alive connection before answering: the request never arrived
        self.connection_dropped = connection_dropped


def speaks_tls(exc: BaseException) -> bool:
    """A plain-HTTP request to a TLS port: the 'status line' that came back is a TLS record."""
    for current in exception_chain(exc):
        if isinstance(current, http.client.BadStatusLine):
            line = current.args[0] if current.args else ""
            text = line.decode("latin-1") if isinstance(line, bytes) else str(line)
            if text.startswith(("\x15\x03", "\x16\x03")):
                return True
    return False


def describe_transport_error(exc: BaseException) -> str:
    """A short reason for a failed request ('connection refused', 'timed out after 10 s', ...).

    Built from the exception's type and errno only, never from its text: urllib3 messages can
    contain the full URL, and URLs are the one place a secret could hide.
    """
    chain = exception_chain(exc)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return "TLS certificate not trusted (set the *_ca_file option, or *_verify_tls to false)"
    if speaks_tls(exc):
        return "the server speaks HTTPS on this port: use an https:// URL"
    for current in chain:
        if isinstance(current, u3.LocationValueError):
            return "not a valid http(s) URL"
        if isinstance(current, u3.NameResolutionError) or isinstance(current, socket.gaierror):
            return "host name not found"
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: look at its cause first
        if isinstance(current, u3.ConnectTimeoutError) and not isinstance(current, u3.NewConnectionError):
            return "connection timed out"
        if isinstance(current, (u3.ReadTimeoutError, socket.timeout, TimeoutError)):
            return "no answer in time (read timed out)"
        if isinstance(current, (u3.SSLError, ssl.SSLError)):
            return "TLS handshake failed (is the server HTTPS? for a plain-HTTP server use an http:// URL)"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(current, OSError) and current.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "no route to host"
        if isinstance(current, OSError) and current.errno == errno.ECONNREFUSED:
            return "connection refused"
    if any(isinstance(e, u3.InvalidHeader) for e in chain):  # two different Content-Lengths, say
        return "a malformed header (not an HTTP answer)"
    if any(isinstance(e, http.client.LineTooLong) for e in chain):
        return "a header or trailer line over 64 KiB (not an HTTP answer)"
    if any(isinstance(e, ValueError) for e in chain) and any(isinstance(e, http.client.IncompleteRead) for e in chain):
        return "broken chunked framing (not an HTTP answer)"  # http.client's chunk size was no number
    if any(isinstance(e, http.client.IncompleteRead) for e in chain):  # urllib3's subclasses it
        return "the answer ended before its end (connection closed mid-body)"
    if any(isinstance(e, (u3.ProtocolError, http.client.HTTPException)) for e in chain):
        return "connection closed by the server"
    return "connection failed (%s)" % type(exc).__name__


def exception_chain(exc: BaseException) -> List[BaseException]:
    """The exception, what it wraps (urllib3's `.reason`), and its causes, without loops."""
    chain: List[BaseException] = []
    current: Optional[BaseException] = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        reason = getattr(current, "reason", None)
        current = (reason if isinstance(reason, BaseException) else None) or current.__cause__ or current.__context__
    return chain
