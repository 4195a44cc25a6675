"""What both HTTP adapters share: one pool per server, TLS options, and plain-words transport errors."""
from __future__ import annotations

import errno
import socket
import ssl
from typing import List, Optional

import urllib3
from urllib3 import exceptions as u3


def make_pool(timeout_sec: float, verify_tls: bool = True, ca_file: Optional[str] = None) -> urllib3.PoolManager:
    """A keep-alive pool with explicit connect/read timeouts and no automatic retries.

    Retries are off because the caller decides what a failure means (and when to try again);
    redirects are off because a redirect would carry our credentials to another place.
    """
    kwargs = {}
    if verify_tls:
        kwargs["cert_reqs"] = "CERT_REQUIRED"
        if ca_file:
            kwargs["ca_certs"] = ca_file
    else:
        kwargs["cert_reqs"] = "CERT_NONE"
    if not verify_tls:
        urllib3.disable_warnings(u3.InsecureRequestWarning)
    return urllib3.PoolManager(
        num_pools=2,
        maxsize=1,
        timeout=urllib3.Timeout(connect=timeout_sec, read=timeout_sec),
        retries=False,
        **kwargs,
    )


def describe_transport_error(exc: BaseException) -> str:
    """A short reason for a failed request ('connection refused', 'timed out after 10 s', ...).

    Built from the exception's type and errno only, never from its text: urllib3 messages can
    contain the full URL, and URLs are the one place a secret could hide.
    """
    chain = _exception_chain(exc)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return "TLS certificate not trusted (set the *_ca_file option, or *_verify_tls to false)"
    for current in chain:
        if isinstance(current, u3.NameResolutionError) or isinstance(current, socket.gaierror):
            return "host name not found"
        # NewConnectionError subclasses ConnectTimeoutError in urllib3 2: look at its cause first
        if isinstance(current, u3.ConnectTimeoutError) and not isinstance(current, u3.NewConnectionError):
            return "connection timed out"
        if isinstance(current, (u3.ReadTimeoutError, socket.timeout, TimeoutError)):
            return "no answer in time (read timed out)"
        if isinstance(current, (u3.SSLError, ssl.SSLError)):
            return "TLS handshake failed"
        if isinstance(current, ConnectionRefusedError):
            return "connection refused"
        if isinstance(current, ConnectionResetError):
            return "connection reset by the server"
        if isinstance(current, OSError) and current.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH):
            return "no route to host"
        if isinstance(current, OSError) and current.errno == errno.ECONNREFUSED:
            return "connection refused"
    if any(isinstance(e, u3.ProtocolError) for e in chain):
        return "connection closed by the server"
    return "connection failed (%s)" % type(exc).__name__


def _exception_chain(exc: BaseException) -> List[BaseException]:
    """The exception, what it wraps (urllib3's `.reason`), and its causes, without loops."""
    chain: List[BaseException] = []
    current: Optional[BaseException] = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        reason = getattr(current, "reason", None)
        current = (reason if isinstance(reason, BaseException) else None) or current.__cause__ or current.__context__
    return chain
