"""What every HTTP adapter shares: one keep-alive pool per server, TLS options, a deadline for the
whole exchange (adapters/transport/deadline.py), a cap on the answer's size, and plain-words
transport errors (adapters/transport/errors.py).

An answer is handed over only when it was read to its end and decoded completely: a body shorter
than its Content-Length, broken chunked framing, a compressed body cut before its end, or an
exchange the deadline cut (even where the cut looks like a clean end) is an HttpTransportError.
A caller that reads "no sessions" from half an answer would lift the throttle on a misread.
"""
from __future__ import annotations

import base64
import http.client
import socket
import time
import zlib
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlencode

import urllib3
from urllib3 import exceptions as u3
from urllib3.util import parse_url

from adapters.transport.deadline import WATCHDOG, Exchange, WatchedHTTPPool, WatchedHTTPSPool, current
from adapters.transport.errors import HttpTransportError, describe_transport_error, exception_chain, speaks_tls

__all__ = [
    "HttpAnswer", "HttpClient", "HttpTransportError", "basic_auth", "decoded", "describe_transport_error",
    "make_pool", "printable_url",
]


# ---------------------------------------------------------------------------------------- the client


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    headers: Mapping[str, str]  # case-insensitive (urllib3's HTTPHeaderDict)
    body: bytes  # at most the cap, decoded (gzip, deflate)
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
    pool.pool_classes_by_scheme = {"http": WatchedHTTPPool, "https": WatchedHTTPSPool}
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
        exchange = Exchange()
        current.exchange = exchange
        entry = WATCHDOG.arm(time.monotonic() + self.deadline_sec, exchange.expire)
        response = None
        try:
            pool, path = self._route(url)
            headers = dict(headers or {})
            if fields is not None:
                body = urlencode(fields).encode("ascii")
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            response = pool.urlopen(
                method, path, body=body, headers=headers, redirect=False, retries=False, preload_content=False,
                assert_same_host=False, decode_content=False,
            )
            data = _read_to_end(response, cap + 1)
        except (u3.HTTPError, OSError, ValueError, http.client.HTTPException) as exc:
            if response is not None:
                _discard(response)
            raise self._failure(exc, exchange, response is None) from None
        finally:
            WATCHDOG.cancel(entry)
            exchange.finish()
            current.exchange = None
        truncated = len(data) > cap
        if truncated or exchange.expired:
            _discard(response)  # unread bytes: the connection must not be reused
        else:
            response.release_conn()
        if exchange.expired:  # the cut socket read as the end of the body (or of the trailers)
            raise HttpTransportError("no complete answer within %g s (timed out)" % self.deadline_sec)
        if truncated:  # the rest was not read: nothing to decode completely
            return HttpAnswer(response.status, response.headers, data[:cap], True)
        data, truncated = decoded(data, response.headers.get("Content-Encoding", ""), cap)
        return HttpAnswer(response.status, response.headers, data, truncated)

    def get(self, url: str, headers: Optional[Mapping[str, str]] = None, max_body_bytes: Optional[int] = None) -> HttpAnswer:
        """A GET, sent once more on a new connection when the server closed the kept-alive one as
        the request left (a GET may be repeated; the pool checks for a close only before sending)."""
        try:
            return self.request("GET", url, headers, max_body_bytes=max_body_bytes)
        except HttpTransportError as exc:
            if not exc.connection_dropped:
                raise
        return self.request("GET", url, headers, max_body_bytes=max_body_bytes)

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

    def _failure(self, exc: BaseException, exchange: Exchange, before_answer: bool) -> HttpTransportError:
        chain = exception_chain(exc)
        timed_out = any(isinstance(e, (u3.ReadTimeoutError, socket.timeout)) for e in chain) and not any(
            isinstance(e, u3.ConnectTimeoutError) for e in chain
        )
        if exchange.expired or timed_out:  # the same to the user: both are the server being too slow
            return HttpTransportError("no complete answer within %g s (timed out)" % self.deadline_sec)
        dropped = before_answer and isinstance(exc, u3.ProtocolError) and not speaks_tls(exc)
        return HttpTransportError(describe_transport_error(exc), connection_dropped=dropped)

    def close(self) -> None:
        self._pool.clear()
        self._routes.clear()


def _read_to_end(response: urllib3.BaseHTTPResponse, limit: int) -> bytes:
    """The body as sent, up to `limit` bytes; read until urllib3 says it ended, which is where it
    checks the Content-Length (a shorter body raises IncompleteRead). Not decoded by urllib3: its
    decoder takes a gzip stream cut short for a whole one."""
    pieces: List[bytes] = []
    size = 0
    while size < limit:
        piece = response.read(limit - size, decode_content=False)
        if not piece:
            break
        pieces.append(piece)
        size += len(piece)
        if response.length_remaining == 0:  # all its Content-Length said: no further read needed
            break
    return b"".join(pieces)


def _discard(response: urllib3.BaseHTTPResponse) -> None:
    # Close before releasing: a connection with unread bytes must not be reused by the pool.
    try:
        response.close()
        response.release_conn()
    except Exception:  # pragma: no cover - closing a broken connection
        pass


# ---------------------------------------------------------------------------------------- content codings

_GZIP_MAGIC = b"\x1f\x8b"


def decoded(body: bytes, content_encoding: str, cap: int) -> Tuple[bytes, bool]:
    """(the body decoded, at most `cap` bytes of it; whether it was longer). A compressed body must
    end where its compressed stream ends; anything else is an HttpTransportError."""
    coding = content_encoding.strip().lower()
    if coding in ("", "identity") or not body:
        return body, False
    if coding in ("gzip", "x-gzip"):
        wbits = 16 + zlib.MAX_WBITS
    elif coding == "deflate":  # RFC 9110 says zlib-wrapped; some servers send it raw (as urllib3 reads both)
        wrapped = len(body) > 1 and body[0] & 0x0F == 8 and (body[0] * 256 + body[1]) % 31 == 0  # a zlib header
        wbits = zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS
    else:  # we never offer another (urllib3 sends Accept-Encoding: identity)
        raise HttpTransportError("the answer is encoded as %r, which plex-helper cannot read" % coding[:32])
    pieces: List[bytes] = []
    size = 0
    rest = body
    try:
        while True:
            stream = zlib.decompressobj(wbits)
            piece = stream.decompress(rest, cap + 1 - size)  # a small body may inflate a thousandfold
            pieces.append(piece)
            size += len(piece)
            if size > cap:
                return b"".join(pieces)[:cap], True
            if not stream.eof:
                raise HttpTransportError("the compressed answer was cut before its end")
            rest = stream.unused_data
            if wbits < 16 + zlib.MAX_WBITS or not rest.startswith(_GZIP_MAGIC):
                return b"".join(pieces), False  # bytes after the stream are ignored, as urllib3 does
    except zlib.error:
        raise HttpTransportError("the compressed answer could not be decoded") from None


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
