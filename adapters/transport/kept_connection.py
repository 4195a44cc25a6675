"""One kept-alive HTTP connection on the standard library's http.client, with the guarantees of
`HttpClient` (adapters/transport/http.py) for a caller that talks to one server, one request at a
time, many times a minute: a deadline for the whole exchange, a cap on the answer's size, complete
answers only, and a connection that never carries a failed exchange's leftovers into the next one.

Why not HttpClient: urllib3's pool, retry and URL layers cost about as much CPU as the exchange
itself, and such a caller needs none of them. http.client still does all the speaking of HTTP
(request framing, status line, headers, Content-Length and chunked bodies).

- The deadline: the deadline watchdog (adapters/transport/deadline.py) shuts the connection's socket
  down when the exchange runs out of time, so a server that trickles its answer a byte at a time
  cannot hold the caller past `deadline_sec` (the socket timeout alone bounds each read, not the answer).
- The size: an answer whose Content-Length is over the cap is not read at all; any other is read to
  at most cap + 1 bytes. A truncated answer is handed over as such (`truncated`) and the connection
  dropped, its unread rest with it.
- Completeness: a body shorter than its Content-Length, or broken chunked framing, is an
  HttpTransportError (http.client raises IncompleteRead).
- A kept-alive connection the server had closed (idle routers do) fails before any answer arrives;
  the request is then sent once more on a new connection. Callers send only requests that may be
  repeated (reading a counter, fetching a document).
- Redirects are not followed: a 3xx is an answer like any other.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time
from typing import Dict, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from adapters.transport.deadline import WATCHDOG, Exchange
from adapters.transport.errors import HttpTransportError, describe_transport_error
from adapters.transport.http import HttpAnswer

Origin = Tuple[str, str, int]  # scheme, host, port

# Failures that mean a kept-alive connection was already closed when the request went out.
_CLOSED_BEFORE_ANSWER = (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                         ConnectionAbortedError)


class KeptConnection:
    """Requests over one kept-alive connection; a URL on another origin than the last one's closes
    it and opens one there. Not thread-safe: one caller at a time (the caller's lock)."""

    def __init__(self, timeout_sec: float, max_body_bytes: int, deadline_sec: Optional[float] = None) -> None:
        self.timeout_sec = timeout_sec
        self.max_body_bytes = max_body_bytes
        self.deadline_sec = timeout_sec if deadline_sec is None else deadline_sec
        self._connection: Optional[http.client.HTTPConnection] = None
        self._origin: Optional[Origin] = None
        self._watched: Optional[socket.socket] = None  # the connection's socket, for the watchdog
        self._watched_is_duplicate = False
        self._exchange: Optional[Exchange] = None
        self._routes: Dict[str, Tuple[Origin, str]] = {}  # url: (origin, request target), parsed once

    def request(self, method: str, url: str, headers: Mapping[str, str], body: Optional[bytes] = None) -> HttpAnswer:
        """The answer (any status), or HttpTransportError (a reason in plain words, no URL)."""
        origin, target = self._route(url)
        exchange = Exchange()
        entry = WATCHDOG.arm(time.monotonic() + self.deadline_sec, exchange.expire)
        self._exchange = exchange
        try:
            try:
                return self._attempt(origin, method, target, headers, body, exchange, may_repeat=True)
            except BaseException:
                self.close()  # whatever it carried is unknown now: never reuse it
                raise
        finally:
            WATCHDOG.cancel(entry)
            exchange.finish()
            self._exchange = None

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
        self._origin = None
        self._forget_socket()

    # ------------------------------------------------------------------ one exchange

    def _attempt(self, origin: Origin, method: str, target: str, headers: Mapping[str, str],
                 body: Optional[bytes], exchange: Exchange, may_repeat: bool) -> HttpAnswer:
        connection = self._connection_to(origin)
        reused = connection.sock is not None
        if reused:
            exchange.watch(self._watched)
        answered = False
        try:
            connection.request(method, target, body=body, headers=dict(headers))
            response = connection.getresponse()
            answered = True
            data, truncated = _read_capped(response, self.max_body_bytes)
        except (OSError, http.client.HTTPException, ValueError) as exc:
            if exchange.expired:
                raise self._timed_out() from None
            if may_repeat and reused and not answered and isinstance(exc, _CLOSED_BEFORE_ANSWER):
                self.close()
                return self._attempt(origin, method, target, headers, body, exchange, may_repeat=False)
            raise HttpTransportError(describe_transport_error(exc)) from None
        if exchange.expired:  # the cut socket read as the end of the body
            raise self._timed_out()
        if truncated or response.will_close:
            self.close()
        return HttpAnswer(response.status, response.msg, data, truncated)

    def _connection_to(self, origin: Origin) -> http.client.HTTPConnection:
        if self._connection is not None and self._origin == origin:
            if self._connection.sock is None:  # http.client closed it (the server said `Connection: close`)
                self._forget_socket()
            return self._connection
        self.close()
        scheme, host, port = origin
        if scheme == "https":
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=self.timeout_sec, context=ssl.create_default_context())
        else:
            connection = http.client.HTTPConnection(host, port, timeout=self.timeout_sec)
        # http.client opens the socket inside request(): the watchdog must see it from the start
        # (connecting, and a TLS handshake) on.
        connection._create_connection = self._open_watched  # type: ignore[attr-defined]
        self._connection, self._origin = connection, origin
        return connection

    def _open_watched(self, address: Tuple[str, int], timeout: float,
                      source_address: Optional[Tuple[str, int]] = None) -> socket.socket:
        sock = socket.create_connection(address, timeout, source_address)
        self._forget_socket()
        if self._origin is not None and self._origin[0] == "https":
            # TLS detaches the socket object it wraps: watch a duplicate of the descriptor instead
            # (shutting the duplicate down shuts the connection down all the same).
            self._watched = socket.fromfd(sock.fileno(), sock.family, sock.type)
            self._watched_is_duplicate = True
        else:
            self._watched = sock
        if self._exchange is not None:
            self._exchange.watch(self._watched)
        return sock

    def _forget_socket(self) -> None:
        if self._watched is not None and self._watched_is_duplicate:
            self._watched.close()  # the connection's own socket is http.client's to close
        self._watched, self._watched_is_duplicate = None, False

    def _route(self, url: str) -> Tuple[Origin, str]:
        route = self._routes.get(url)
        if route is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise HttpTransportError("not a valid http(s) URL")
            try:
                port = parts.port or (443 if parts.scheme == "https" else 80)
            except ValueError:
                raise HttpTransportError("not a valid http(s) URL") from None
            target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
            route = ((parts.scheme, parts.hostname, port), target)
            if len(self._routes) < 16:
                self._routes[url] = route
        return route

    def _timed_out(self) -> HttpTransportError:
        return HttpTransportError("no complete answer within %g s (timed out)" % self.deadline_sec)


def _read_capped(response: http.client.HTTPResponse, cap: int) -> Tuple[bytes, bool]:
    """(the body, at most `cap` bytes; whether it was longer). A Content-Length body is read whole
    (http.client checks it arrived whole) when it fits, not at all when it does not; a chunked or
    close-delimited one to at most cap + 1 bytes."""
    if response.length is not None and not response.chunked:
        if response.length > cap:
            return b"", True
        return response.read(), False
    data = response.read(cap + 1)
    if len(data) > cap:
        return data[:cap], True
    return data, False
