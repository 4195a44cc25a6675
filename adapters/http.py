"""What every HTTP adapter shares: one keep-alive pool per server, TLS options, a deadline for the
whole exchange, a cap on the answer's size, and plain-words transport errors.

urllib3's read timeout applies to each socket read, not to the answer: a server that sends one byte
every few seconds (headers or body) would hold a poll for hours. Here every request has one deadline
for connect, headers and body; when it passes, a watchdog thread shuts the connection's socket down,
which wakes the blocked read at once, and the request fails like any other unreachable server.
"""
from __future__ import annotations

import base64
import errno
import heapq
import http.client
import itertools
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlencode

import urllib3
from urllib3 import connection as u3_connection
from urllib3 import connectionpool as u3_pool
from urllib3 import exceptions as u3
from urllib3.util import parse_url


# ---------------------------------------------------------------------------------------- deadlines


class _Watchdog:
    """One daemon thread that runs an action when its deadline passes, unless it was cancelled first.

    One thread for the whole process (not a Timer per request): it sleeps until the earliest
    deadline and is woken only when an earlier one is armed.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: List[list] = []
        self._seq = itertools.count()
        self._cancelled = 0  # cancelled entries still in the heap
        self._thread: Optional[threading.Thread] = None

    def arm(self, deadline: float, action: Callable[[], None]) -> list:
        entry = [deadline, next(self._seq), action]
        with self._cond:
            earliest = self._heap[0][0] if self._heap else None
            heapq.heappush(self._heap, entry)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="http-deadlines", daemon=True)
                self._thread.start()
            elif earliest is None or deadline < earliest:
                self._cond.notify()
        return entry

    def cancel(self, entry: list) -> None:
        with self._cond:
            entry[2] = None  # left in the heap; dropped when its time comes (no wake-up needed)
            self._cancelled += 1
            if self._cancelled > 32 and self._cancelled * 2 > len(self._heap):
                # fast polls cancel faster than deadlines pass: keep the heap as small as what is armed
                self._heap = [e for e in self._heap if e[2] is not None]
                heapq.heapify(self._heap)
                self._cancelled = 0

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    while self._heap and self._heap[0][2] is None:
                        heapq.heappop(self._heap)
                        self._cancelled = max(0, self._cancelled - 1)
                    if not self._heap:
                        self._cond.wait()
                        continue
                    wait = self._heap[0][0] - time.monotonic()
                    if wait <= 0:
                        action = heapq.heappop(self._heap)[2]
                        break
                    self._cond.wait(wait)
            try:
                action()
            except Exception:  # pragma: no cover - an action only shuts sockets down
                pass


_WATCHDOG = _Watchdog()
_current = threading.local()


class _Exchange:
    """The sockets one request used, so the watchdog can cut them when its deadline passes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sockets: List[socket.socket] = []
        self._closing: List[socket.socket] = []
        self.expired = False
        self._done = False

    def watch(self, sock: Optional[socket.socket]) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if self.expired:
                _shut(sock)

    def expire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            for sock in self._sockets:
                _shut(sock)

    def close_later(self, sock: socket.socket) -> None:
        """A watched duplicate whose connection closed mid-exchange: a response that ends with the
        connection may still be reading its body through the original, so keep it until the end."""
        with self._lock:
            self._closing.append(sock)

    def finish(self) -> None:
        with self._lock:
            self._done = True
            for sock in self._closing:
                sock.close()
            self._closing.clear()


def _shut(sock: socket.socket) -> None:
    """Shut the connection down (both ways): a read blocked on it in another thread returns at once.

    socket.socket's own shutdown, also for a TLS socket: SSLSocket.shutdown would drop its TLS
    state under the reading thread's feet.
    """
    try:
        socket.socket.shutdown(sock, socket.SHUT_RDWR)
    except OSError:
        pass


def _watch(sock: Optional[socket.socket]) -> None:
    exchange = getattr(_current, "exchange", None)
    if exchange is not None:
        exchange.watch(sock)


class _WatchedHTTPConnection(u3_connection.HTTPConnection):
    """Tells the request in progress which socket it is using, new or kept alive."""

    _watch_sock: Optional[socket.socket] = None

    def _new_conn(self) -> socket.socket:
        sock = super()._new_conn()
        # A duplicate of the descriptor: shutdown acts on the connection, so shutting the duplicate
        # down also stops a TLS handshake, during which the original socket object is detached.
        try:
            self._watch_sock = socket.fromfd(sock.fileno(), sock.family, sock.type)
        except OSError:
            self._watch_sock = None
        _watch(self._watch_sock)
        return sock

    def request(self, *args, **kwargs):  # type: ignore[no-untyped-def,override]
        _watch(self._watch_sock if self.sock is not None else None)
        return super().request(*args, **kwargs)

    def close(self) -> None:
        try:
            super().close()
        finally:
            duplicate, self._watch_sock = self._watch_sock, None
            if duplicate is not None:
                exchange = getattr(_current, "exchange", None)
                if exchange is not None:
                    exchange.close_later(duplicate)
                else:
                    duplicate.close()


class _WatchedHTTPSConnection(_WatchedHTTPConnection, u3_connection.HTTPSConnection):
    pass


class _WatchedHTTPPool(u3_pool.HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(u3_pool.HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


# ---------------------------------------------------------------------------------------- the client


class HttpTransportError(Exception):
    """No (complete) answer. `str()` is a short reason in plain words, never a URL."""

    def __init__(self, reason: str, connection_dropped: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        # the server closed a kept-alive connection before answering: the request never arrived
        self.connection_dropped = connection_dropped


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    body: bytes  # at most the cap (PollingClient may hand over its bytearray: the same bytes, not copied)
    truncated: bool  # the answer was longer than the cap (the rest was not read)

    def header_list(self, name: str) -> List[str]:
        getlist = getattr(self.headers, "getlist", None)
        return list(getlist(name)) if getlist else ([self.headers[name]] if name in self.headers else [])


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
        urllib3.disable_warnings(u3.InsecureRequestWarning)
    pool = urllib3.PoolManager(
        num_pools=2,
        maxsize=1,
        timeout=urllib3.Timeout(connect=timeout_sec, read=timeout_sec),
        retries=False,
        **kwargs,
    )
    pool.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
    return pool


class HttpClient:
    """Requests to one server, each bounded in time (the whole exchange) and in size (the answer).

    `deadline_sec` covers connect, sending, the status line, the headers and the body together.
    """

    def __init__(
        self,
        timeout_sec: float,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        max_body_bytes: int = 1024 * 1024,
        deadline_sec: Optional[float] = None,
    ) -> None:
        self._pool = make_pool(timeout_sec, verify_tls, ca_file)
        self.max_body_bytes = max_body_bytes
        self.deadline_sec = timeout_sec if deadline_sec is None else deadline_sec
        self._routes: Dict[str, Tuple[Any, str]] = {}

    def request(
        self,
        method: str,
        url: str,
        headers: Optional[Mapping[str, str]] = None,
        fields: Optional[Mapping[str, str]] = None,
        body: Optional[bytes] = None,
        max_body_bytes: Optional[int] = None,
    ) -> HttpAnswer:
        """The answer (any status), or HttpTransportError. `fields` are sent form-encoded (POST)."""
        cap = self.max_body_bytes if max_body_bytes is None else max_body_bytes
        exchange = _Exchange()
        _current.exchange = exchange
        entry = _WATCHDOG.arm(time.monotonic() + self.deadline_sec, exchange.expire)
        response = None
        try:
            pool, path = self._route(url)
            headers = dict(headers or {})
            if fields is not None:
                body = urlencode(fields).encode("ascii")
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            response = pool.urlopen(
                method, path, body=body, headers=headers, redirect=False, retries=False, preload_content=False,
                assert_same_host=False,
            )
            data = response.read(cap + 1)
        except (u3.HTTPError, OSError, ValueError, http.client.HTTPException) as exc:
            if response is not None:
                _discard(response)
            raise self._failure(exc, exchange, response is None) from None
        finally:
            _WATCHDOG.cancel(entry)
            exchange.finish()
            _current.exchange = None
        truncated = len(data) > cap
        if truncated or exchange.expired:
            _discard(response)  # unread bytes: the connection must not be reused
            data = data[:cap]
        else:
            response.release_conn()
        return HttpAnswer(response.status, response.headers, data, truncated)

    def _route(self, url: str) -> Tuple[Any, str]:
        """(the host's connection pool, the request target) for a URL. An adapter asks the same few
        URLs again and again (every poll): parsed once, not on every request."""
        route = self._routes.get(url)
        if route is None or route[0].pool is None:  # new, or its pool was closed (evicted)
            parsed = parse_url(url)
            route = (self._pool.connection_from_url(url), parsed.request_uri)
            if len(self._routes) < 64:
                self._routes[url] = route
        return route

    def _failure(self, exc: BaseException, exchange: _Exchange, before_answer: bool) -> HttpTransportError:
        chain = _exception_chain(exc)
        timed_out = any(isinstance(e, (u3.ReadTimeoutError, socket.timeout)) for e in chain) and not any(
            isinstance(e, u3.ConnectTimeoutError) for e in chain
        )
        if exchange.expired or timed_out:  # the same to the user: both are the server being too slow
            return HttpTransportError("no complete answer within %g s (timed out)" % self.deadline_sec)
        dropped = before_answer and isinstance(exc, u3.ProtocolError) and not _speaks_tls(exc)
        return HttpTransportError(describe_transport_error(exc), connection_dropped=dropped)

    def close(self) -> None:
        self._pool.clear()
        self._routes.clear()


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    # Close before releasing: a connection with unread bytes must not be reused by the pool.
    try:
        response.close()
        response.release_conn()
    except Exception:  # pragma: no cover - closing a broken connection
        pass


# ---------------------------------------------------------------------------------------- URLs


def basic_auth(username: str, password: str) -> str:
    """The value of an `Authorization: Basic ...` header (UTF-8, as RFC 7617 recommends)."""
    return "Basic " + base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")


def printable_url(url: str) -> str:
    """A URL as it may appear in a log line or a message: without `user:pass@`, query and fragment
    (where secrets hide: a Plex token copied with the URL, an API key), and without a trailing slash.
    The one place every adapter cleans its URLs."""
    url = url.strip().split("#", 1)[0].split("?", 1)[0].rstrip("/")
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    authority, slash, path = rest.partition("/")
    return scheme + sep + authority.rpartition("@")[2] + slash + path


# ---------------------------------------------------------------------------------------- errors


def _speaks_tls(exc: BaseException) -> bool:
    """A plain-HTTP request to a TLS port: the 'status line' that came back is a TLS record."""
    for current in _exception_chain(exc):
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
    chain = _exception_chain(exc)
    if any(isinstance(e, ssl.SSLCertVerificationError) for e in chain):
        return "TLS certificate not trusted (set the *_ca_file option, or *_verify_tls to false)"
    if _speaks_tls(exc):
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
    if any(isinstance(e, (u3.ProtocolError, http.client.HTTPException)) for e in chain):
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
