"""GETs of the same few URLs, again and again, over one kept-alive connection: the media servers' poll.

The poll is the one request the daemon makes every few seconds for months, so its cost is the
daemon's cost. `HttpClient` (urllib3, http.client) spends about 0.5 ms of CPU per exchange on its
layers: pool bookkeeping, header parsing through the email package, a watchdog thread. This client
sends the request bytes it built once and reads the answer with a few `recv` calls and a split of
the head, so a poll costs a third of that. What it keeps from `HttpClient`:

* one deadline for the whole exchange (connect, TLS handshake, request, status line, headers and
  body): every wait is bounded by the time left, so a server that trickles a byte at a time is cut
  off when the deadline passes; no thread is needed;
* a cap on the answer's size (`HttpAnswer.truncated`), and on the head (64 KiB, 100 headers);
* the same answers (`HttpAnswer`, headers case-insensitive) and the same plain-words failures
  (`HttpTransportError`, `describe_transport_error`), never with a URL in them;
* TLS with the same options, no redirects followed, no retries except one: a kept-alive connection
  the server closed between polls is reopened once, as a GET may be repeated.

It speaks only what a media server answers a GET with: HTTP/1.x, a Content-Length, chunked or
until-close body, optionally gzip- or deflate-encoded; anything else is a failed exchange.
"""
from __future__ import annotations

import select
import socket
import ssl
import threading
import time
import zlib
from typing import Mapping, Optional
from urllib.parse import quote, urlsplit

from adapters.transport.http import HttpAnswer, HttpTransportError, describe_transport_error
from adapters.transport.framing import (
    Dropped, Expired, Headers, ProtocolFailure, decoded, parse_head, read_body, read_head,
    time_left, wait_time,
)

_PATH_SAFE = "/%:@!$&'()*+,;=?~-._"  # what may stay as it is in a path and query (RFC 3986)


class PollingClient:
    """GET requests to one server (`base_url`: scheme, host and port), each bounded in time and size.

    Thread-safe (one exchange at a time). `get(path)` returns the answer to any status, or raises
    HttpTransportError."""

    def __init__(
        self,
        base_url: str,
        timeout_sec: float,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        max_body_bytes: int = 1024 * 1024,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("not an http(s) URL")
        self._host = parts.hostname
        self._port = parts.port or (443 if parts.scheme == "https" else 80)
        shown = "[%s]" % self._host if ":" in self._host else self._host
        try:  # a name beyond ASCII goes in the Host header as IDNA, as urllib3 sends it
            shown = shown.encode("idna").decode("ascii")
        except UnicodeError:
            shown = ""  # no such host can be asked: every request fails, in words (see get)
        self._host_header = shown if not shown or parts.port is None else "%s:%d" % (shown, parts.port)
        self._tls: Optional[ssl.SSLContext] = None
        if parts.scheme == "https":
            self._tls = ssl.create_default_context(cafile=ca_file if verify_tls else None)
            if not verify_tls:
                self._tls.check_hostname = False
                self._tls.verify_mode = ssl.CERT_NONE
        self.deadline_sec = timeout_sec
        self.max_body_bytes = max_body_bytes
        self._sock: Optional[socket.socket] = None
        self._requests: dict = {}  # (path, headers) -> the request's bytes, built once
        self._lock = threading.Lock()

    def get(self, path: str, headers: Mapping[str, str], max_body_bytes: Optional[int] = None) -> HttpAnswer:
        cap = self.max_body_bytes if max_body_bytes is None else max_body_bytes
        with self._lock:
            deadline = time.monotonic() + self.deadline_sec
            try:
                if not self._host_header:
                    raise HttpTransportError("not a valid host name")
                request = self._request_bytes(path, headers)
                reused = self._sock is not None
                try:
                    return self._exchange(request, cap, deadline)
                except Dropped:
                    if not reused:
                        raise
                    self.close()  # closed by the server while idle: once more on a new connection
                    return self._exchange(request, cap, deadline)
            except Expired:
                self.close()
                raise HttpTransportError("no complete answer within %g s (timed out)" % self.deadline_sec) from None
            except Dropped:
                self.close()
                raise HttpTransportError("connection closed by the server", connection_dropped=True) from None
            except ProtocolFailure as exc:
                self.close()
                if str(exc) == "tls":
                    raise HttpTransportError("the server speaks HTTPS on this port: use an https:// URL") from None
                raise HttpTransportError("not an HTTP answer (%s)" % exc) from None
            except zlib.error:
                self.close()
                raise HttpTransportError("the compressed body could not be decoded") from None
            except (OSError, ValueError) as exc:  # socket and TLS errors, a value no request can carry
                self.close()
                raise HttpTransportError(describe_transport_error(exc)) from None
            except BaseException:  # a stop signal mid-exchange: never reuse a half-read connection
                self.close()
                raise

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None:
            try:
                sock.close()
            except OSError:  # pragma: no cover - closing a broken socket
                pass

    # ------------------------------------------------------------------------------ one exchange

    def _request_bytes(self, path: str, headers: Mapping[str, str]) -> bytes:
        key = (path, tuple(headers.items()))
        request = self._requests.get(key)
        if request is None:
            # percent-encoded as urllib3 does (a space or a letter beyond ASCII in a proxy's prefix)
            lines = ["GET %s HTTP/1.1" % quote(path, safe=_PATH_SAFE), "Host: " + self._host_header]
            lines += ["%s: %s" % item for item in headers.items()]
            request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
            if len(self._requests) < 16:
                self._requests[key] = request
        return request

    def _exchange(self, request: bytes, cap: int, deadline: float) -> HttpAnswer:
        if self._sock is not None and _readable(self._sock):
            self.close()  # closed while idle, or bytes nobody asked for: either way not a clean start
        if self._sock is None:
            self._sock = self._connect(deadline)
        sock = self._sock
        try:
            wait_time(sock, deadline)
            sock.sendall(request)
        except socket.timeout:
            raise Expired() from None
        except (BrokenPipeError, ConnectionResetError):
            raise Dropped() from None
        buffer = bytearray()
        while True:  # 1xx answers are interim: the real one follows
            end, body_start = read_head(sock, buffer, deadline)
            status, version, headers = parse_head(bytes(buffer[:end]))
            del buffer[:body_start]
            if not 100 <= status < 200 or status == 101:
                break
        body, complete, truncated = read_body(sock, buffer, status, headers, cap, deadline)
        connection = headers.get("connection", "").lower()
        keep = complete and not truncated and (
            "keep-alive" in connection if version == "HTTP/1.0" else "close" not in connection
        )
        if not keep:
            self.close()
        encoding = headers.get("content-encoding", "").lower()
        if encoding in ("gzip", "deflate", "x-gzip") and body:
            body, truncated = decoded(body, encoding, cap, truncated)
        return HttpAnswer(status, Headers(headers), body, truncated)

    def _connect(self, deadline: float) -> socket.socket:
        try:
            sock = socket.create_connection((self._host, self._port), timeout=time_left(deadline))
        except socket.timeout:
            raise HttpTransportError("connection timed out") from None
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is None:
                return sock
            tls = self._tls.wrap_socket(sock, server_hostname=self._host, do_handshake_on_connect=False)
        except BaseException:
            sock.close()
            raise
        try:
            while True:  # each wait bounded by the time left: a trickled handshake ends at the deadline
                wait_time(tls, deadline)
                try:
                    tls.do_handshake()
                    return tls
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):  # pragma: no cover - with a timeout set
                    continue
        except socket.timeout:
            tls.close()
            raise Expired() from None
        except BaseException:
            tls.close()
            raise


def _readable(sock: socket.socket) -> bool:
    """Whether a kept-alive socket has something to read before we asked: an EOF or stray bytes."""
    try:
        ready, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return True
    return bool(ready)
