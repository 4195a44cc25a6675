"""The HTTP status server: health, Prometheus metrics, Plex's webhook and the manual override.

A stdlib `ThreadingHTTPServer` in a daemon thread. It must never block or crash the poll loop: it
only talks to a `StatusBackend` (whose methods are quick and thread-safe), every failure inside a
request becomes a JSON error answer and a log line, and a client holds a thread for a bounded time
only: the request head has one deadline and size caps (http_request_reader), the body a size cap
and its own deadline, and one client address may hold only a share of the connections. Bodies are
parsed flat, without recursion (webhook_body).

Routes (all answers JSON except /metrics):

    GET    /health     backend.health() with its status code (200 or 503)
    GET    /metrics    Prometheus text format 0.0.4
    POST   /webhook    Plex's webhook (multipart/form-data with a `payload` part; also
                       application/json, or form-encoded `payload=`); media.play/resume/pause/stop
                       and playback.started wake the loop for an observation now
    POST   /override   {"state": "streaming"|"idle", "minutes": N}
    DELETE /override   ends the override

With a token configured, POST and DELETE need `Authorization: Bearer <token>`. Plex cannot send
headers with its webhook, so /webhook also takes the token as `?token=` in the URL configured in
Plex; the query string is never logged. GETs are open.

`StatusClient` is the other end, for the `plex-helper override` command.
"""
from __future__ import annotations

import hmac
import http.server
import io
import json
import logging
import math
import re
import socket
import threading
import time
from collections import Counter
from typing import Any, Dict, Iterable, Optional, Tuple
from urllib.parse import parse_qs, urlsplit

from urllib3 import exceptions as u3

from adapters.http import describe_transport_error, make_pool, printable_url
from adapters.http_request_reader import (
    HeadLimits, HeadTimeout, RequestError, content_length, read_body, read_head,
)
from adapters.webhook_body import override_request, webhook_payload
from domain.ports import StatusBackend, UserFacingError

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_READ_TIMEOUT_SEC = 10.0
DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 8  # so that one client cannot take every slot
DEFAULT_HEAD_DEADLINE_SEC = 10.0  # for the request line and headers together, however they trickle in

# Plex webhook events that mean a stream may have started or stopped.
TRIGGER_EVENTS = frozenset({"media.play", "media.resume", "media.stop", "media.pause", "playback.started"})


def history_request(query: str) -> Tuple[float, Optional[float], int]:
    """(since, until, max_points) from `?since=&until=&max_points=`; ValueError (a 400) when bad."""
    values = parse_qs(query)

    def number(name: str, default: Optional[float]) -> Optional[float]:
        text = values.get(name, [None])[-1]
        if text is None or text == "":
            return default
        try:
            value = float(text)
        except ValueError:
            raise _HttpError(400, "%s must be a number (epoch seconds)" % name) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise _HttpError(400, "%s must be a finite number" % name)
        return value

    since = number("since", time.time() - 86400)
    until = number("until", None)
    points = number("max_points", 2000)
    return float(since), until, int(min(5000, max(1, points)))  # type: ignore[arg-type]


class StatusServerError(UserFacingError):
    """The server could not start (the address is taken, or cannot be bound)."""


def parse_listen(listen: str) -> Tuple[str, int]:
    """'127.0.0.1:9911', '[::1]:9911', 'localhost:9911', ':9911' (all IPv4 interfaces) -> (host, port)."""
    text = (listen or "").strip()
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError("listen address %r: expected [IPv6]:port, e.g. [::1]:9911" % listen)
        port_text = rest[1:]
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon:
            raise ValueError("listen address %r: expected host:port, e.g. 127.0.0.1:9911" % listen)
        if ":" in host:
            raise ValueError("listen address %r: put an IPv6 address in brackets, e.g. [::1]:9911" % listen)
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError("listen address %r: the port must be a number from 0 to 65535" % listen)
    return host, int(port_text)


def _url_host(host: str) -> str:
    """The host to put in a URL to reach a server listening on `host` (a wildcard means this machine)."""
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return "[%s]" % host if ":" in host else host


def url_for_listen(listen: str) -> str:
    """The URL a local client uses to reach a server configured with `listen`."""
    host, port = parse_listen(listen)
    return "http://%s:%d" % (_url_host(host), port)


_SECRET_IN_TEXT = re.compile(r"((?:token|x-plex-token)=)[^&\s\"']*", re.IGNORECASE)


def _redact(text: str) -> str:
    return _SECRET_IN_TEXT.sub(r"\1***", text)


_HttpError = RequestError


class StatusHttpServer:
    """The status server. `start()` binds and serves in a daemon thread; `stop()` is prompt and idempotent."""

    def __init__(
        self,
        listen: str,
        backend: StatusBackend,
        token: str = "",
        logger: Optional[logging.Logger] = None,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        read_timeout_sec: float = DEFAULT_READ_TIMEOUT_SEC,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_connections_per_address: int = DEFAULT_MAX_CONNECTIONS_PER_ADDRESS,
        head_deadline_sec: float = DEFAULT_HEAD_DEADLINE_SEC,
    ) -> None:
        self.listen = listen
        self._host, self._port = parse_listen(listen)
        self.backend = backend
        self._token = token or ""
        self.logger = logger or logging.getLogger("plex_helper.status")
        self.max_body_bytes = max_body_bytes
        self.read_timeout_sec = read_timeout_sec
        self.max_connections = max_connections
        self.max_connections_per_address = max_connections_per_address
        self.head_limits = HeadLimits(deadline_sec=head_deadline_sec)
        self._lifecycle = threading.Lock()
        self._httpd: Optional[_Server] = None
        self._thread: Optional[threading.Thread] = None
        self._address: Optional[Tuple[str, int]] = None

    # --- lifecycle -----------------------------------------------------------------------------

    def start(self) -> "StatusHttpServer":
        with self._lifecycle:
            if self._httpd is not None:
                return self
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            server_class = type("StatusServer", (_Server,), {"address_family": family})
            try:
                httpd = server_class((self._host, self._port), _Handler)
            except OSError as err:
                reason = err.strerror or type(err).__name__
                raise StatusServerError("status server cannot listen on %s: %s" % (self.listen, reason)) from err
            httpd.app = self
            thread = threading.Thread(
                target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="plex-helper-status", daemon=True,
            )
            thread.start()
            self._httpd, self._thread = httpd, thread
            self._address = (self._host, httpd.server_address[1])
        self.logger.info("status server listening on %s", self.url)
        return self

    def stop(self, timeout_sec: float = 2.0) -> None:
        """Stops accepting, closes open connections, and returns within about `timeout_sec`."""
        with self._lifecycle:
            httpd, thread = self._httpd, self._thread
            self._httpd = self._thread = None
        if httpd is None:
            return
        httpd.shutdown()  # serve_forever notices within its 0.1 s poll interval
        httpd.server_close()
        httpd.close_all_connections()
        if thread is not None:
            thread.join(timeout_sec)

    @property
    def running(self) -> bool:
        return self._httpd is not None

    @property
    def address(self) -> Tuple[str, int]:
        """(host, port) actually bound; the configured ones before start()."""
        return self._address or (self._host, self._port)

    @property
    def url(self) -> str:
        host, port = self.address
        return "http://%s:%d" % (_url_host(host), port)

    def __enter__(self) -> "StatusHttpServer":
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    # --- for the handler -----------------------------------------------------------------------

    def authorized(self, authorization: Optional[str], query_token: Optional[str]) -> bool:
        if not self._token:
            return True
        expected = self._token.encode("utf-8")
        candidates = []
        scheme, _, value = (authorization or "").strip().partition(" ")
        if scheme.lower() == "bearer":
            candidates.append(value.strip())
        if query_token is not None:
            candidates.append(query_token)
        ok = False
        for supplied in candidates:  # compare every candidate: no early exit
            ok |= hmac.compare_digest(supplied.encode("utf-8", "surrogateescape"), expected)
        return ok


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False
    app: StatusHttpServer

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._connections: Dict[socket.socket, str] = {}  # open connection -> client address
        self._per_address: Counter = Counter()
        self._connections_lock = threading.Lock()
        self._last_refusal_log = -math.inf
        super().__init__(*args, **kwargs)

    def process_request(self, request: Any, client_address: Any) -> None:
        address = str(client_address[0]) if isinstance(client_address, tuple) and client_address else "?"
        with self._connections_lock:
            if len(self._connections) >= self.app.max_connections:
                refusal: Optional[str] = "%d connections already open" % len(self._connections)
            elif self._per_address[address] >= self.app.max_connections_per_address:
                refusal = "%d connections already open from %s" % (self._per_address[address], address)
            else:
                refusal = None
                self._connections[request] = address
                self._per_address[address] += 1
        if refusal is not None:
            self._refuse(request, refusal)
            return
        try:
            super().process_request(request, client_address)
        except Exception:  # noqa: BLE001 - e.g. no thread could be started
            self._forget(request)
            self.shutdown_request(request)
            self.app.logger.warning("status server: could not serve a connection", exc_info=True)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._forget(request)

    def _forget(self, request: Any) -> None:
        with self._connections_lock:
            address = self._connections.pop(request, None)
            if address is not None:
                self._per_address[address] -= 1
                if self._per_address[address] <= 0:
                    del self._per_address[address]

    def _refuse(self, request: socket.socket, reason: str) -> None:
        """Too many connections: a one-shot 503 that never blocks the accept loop."""
        body = b'{"error": "too many connections to the status server"}\n'
        head = (
            "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\n"
            "Content-Length: %d\r\nConnection: close\r\nRetry-After: 1\r\n\r\n" % len(body)
        ).encode("ascii")
        try:
            request.setblocking(False)
            request.send(head + body)
        except OSError:
            pass
        self.shutdown_request(request)
        now = time.monotonic()
        if now - self._last_refusal_log >= 60:  # a flood gives one line a minute, not one per connection
            self._last_refusal_log = now
            self.app.logger.warning("status server: refusing connections, %s", reason)

    def close_all_connections(self) -> None:
        with self._connections_lock:
            open_now = list(self._connections)
        for request in open_now:
            try:
                request.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def handle_error(self, request: Any, client_address: Any) -> None:
        """An exception escaped a handler (a client that vanished mid-request): log it, quietly."""
        self.app.logger.debug("status server: connection ended with an error", exc_info=True)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "plex-helper"
    sys_version = ""
    server: _Server

    _ROUTES: Dict[str, Tuple[str, ...]] = {
        "/": ("GET", "HEAD"),
        "/api/history": ("GET", "HEAD"),
        "/health": ("GET", "HEAD"),
        "/metrics": ("GET", "HEAD"),
        "/webhook": ("POST",),
        "/override": ("POST", "DELETE"),
    }

    # --- plumbing ------------------------------------------------------------------------------

    @property
    def app(self) -> StatusHttpServer:
        return self.server.app

    def setup(self) -> None:
        self.timeout = self.app.read_timeout_sec  # applied to the socket by StreamRequestHandler.setup
        super().setup()

    def __getattr__(self, name: str) -> Any:
        # every method goes through the router, so unknown methods get 404/405 instead of 501
        if name.startswith("do_"):
            return self._dispatch
        raise AttributeError(name)

    def version_string(self) -> str:
        return self.server_version  # the stdlib appends " " + sys_version, a trailing space here

    def handle_one_request(self) -> None:
        """The stdlib's, with the head read under one deadline and size caps (http_request_reader)."""
        self.raw_requestline, self.requestline, self.command, self.path = b"", "", "", ""
        self.request_version = "HTTP/1.0"
        self._unread = self._mid_body = False
        try:
            try:
                request_line, header_block = read_head(
                    self.rfile, self.connection, self.app.head_limits, self.app.read_timeout_sec)
            finally:
                self.connection.settimeout(self.app.read_timeout_sec)
        except (HeadTimeout, OSError) as err:  # too slow, or the client went away
            self.close_connection = True
            self.app.logger.debug("status %s: %s; closing the connection", self.address_string(), err)
            return
        except RequestError as err:
            self.close_connection = self._mid_body = True  # the rest of the head is still unread
            self.log_error("code %d, message %s", err.status, err.message)
            try:
                self._send_json(err.status, {"error": err.message})
            except OSError:
                pass
            return
        if not request_line:
            self.close_connection = True
            return
        self.raw_requestline = request_line
        stream, self.rfile = self.rfile, io.BytesIO(header_block)  # parse_request reads the headers from rfile
        try:
            parsed = self.parse_request()
        finally:
            self.rfile = stream
        if not parsed:
            return
        try:
            getattr(self, "do_" + self.command)()
            self.wfile.flush()
        except TimeoutError as err:
            self.log_error("request timed out: %r", err)
            self.close_connection = True

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        path = urlsplit(self.path or "").path if getattr(self, "path", None) else "-"
        status = getattr(code, "value", code)
        self.app.logger.debug("status %s %s %s %s", self.address_string(), self.command or "-", path, status)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's name
        self.app.logger.debug("status %s: %s", self.address_string(), _redact(format % args))

    def send_error(self, code: int, message: Optional[str] = None, explain: Optional[str] = None) -> None:
        """The stdlib's own errors (bad request line, headers too long...), as JSON."""
        try:
            phrase = self.responses.get(code, ("error",))[0]
        except Exception:  # noqa: BLE001
            phrase = "error"
        self.log_error("code %d, message %s", code, message)
        if self.request_version == "HTTP/0.9":  # an unreadable request line: answer with headers anyway
            self.request_version = "HTTP/1.0"
        self.close_connection = True
        self._unread = self._mid_body = False
        self._send_json(code, {"error": message or phrase})

    # --- one request ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        self._responded = False
        self._unread = self._mid_body = False
        self._split = urlsplit(self.path)
        try:
            try:
                self._frame_body()
                self._precheck()
                self._route()
            except _HttpError as err:
                self._send_json(err.status, {"error": err.message}, err.headers)
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as err:
            self.close_connection = True
            self.app.logger.debug("status %s %s: client went away (%s)", self.command, self._split.path, err)
        except Exception as err:  # noqa: BLE001 - nothing may escape into the server
            self.close_connection = True
            self.app.logger.error(
                "status server: %s %s failed: %s: %s", self.command, self._split.path, type(err).__name__, err,
                exc_info=True,
            )
            if not self._responded:
                try:
                    self._send_json(500, {"error": "internal error (%s); see plex-helper's log" % type(err).__name__})
                except OSError:
                    pass

    def handle_expect_100(self) -> bool:
        """Refuse an oversized, unauthorized or misrouted body before the client sends it."""
        self._responded = False
        self._split = urlsplit(self.path)
        try:
            self._frame_body()
            self._unread = False  # the client waits for "100 Continue" before sending it
            self._precheck()
        except _HttpError as err:
            self.close_connection = True
            self._send_json(err.status, {"error": err.message}, err.headers)
            return False
        return super().handle_expect_100()

    def _frame_body(self) -> None:
        """How the body is delimited. When that is unclear the answer closes the connection."""
        self._chunked, self._length = False, None
        self._unread, self._mid_body = False, True  # nothing after the head can be trusted yet
        encoding = (self.headers.get("Transfer-Encoding") or "").strip().lower()
        if encoding and encoding != "chunked":
            raise _HttpError(501, "unsupported Transfer-Encoding: %s" % encoding)
        self._chunked = encoding == "chunked"
        if not self._chunked:
            self._length = content_length(self.headers)
        self._unread, self._mid_body = self._chunked or bool(self._length), False

    def _precheck(self) -> None:
        """Route, method, auth and declared size: everything decidable from the headers."""
        path = self._split.path
        allowed = self._ROUTES.get(path)
        if allowed is None:
            raise _HttpError(404, "no such path: %s (try /, /health, /api/history, /metrics, /webhook, /override)" % path)
        if self.command not in allowed:
            raise _HttpError(405, "%s does not accept %s" % (path, self.command), [("Allow", ", ".join(allowed))])
        if self.command in ("POST", "DELETE", "PUT", "PATCH"):
            query_token = None
            if path == "/webhook":
                query_token = parse_qs(self._split.query).get("token", [None])[-1]
            if not self.app.authorized(self.headers.get("Authorization"), query_token):
                how = ("add ?token=<status_token> to the webhook URL" if path == "/webhook"  # Plex sends no headers
                       else "send the header 'Authorization: Bearer <status_token>'")
                raise _HttpError(401, "missing or wrong token: " + how,
                                 [("WWW-Authenticate", 'Bearer realm="plex-helper"')])
        if self._length is not None and self._length > self.app.max_body_bytes:
            raise _HttpError(413, "request body too large (at most %d bytes)" % self.app.max_body_bytes)

    def _route(self) -> None:
        path, method = self._split.path, self.command
        backend = self.app.backend
        if path == "/":
            self._read_body()
            from adapters.dashboard import page  # only for a browser: kept out of memory otherwise

            body, content_type, headers = page()
            self._send(200, body, content_type, headers)
            return
        if path == "/api/history":
            self._read_body()
            self._send_json(200, backend.history(*history_request(self._split.query)))
            return
        if path in ("/health", "/metrics"):
            self._read_body()  # normally empty; keeps the connection in step
            if path == "/health":
                status, payload = backend.health()
                if not isinstance(status, int) or not 100 <= status <= 599:
                    raise TypeError("health() returned status %r" % (status,))
                self._send_json(status, payload)
            else:
                text = backend.metrics_text()
                self._send(200, text.encode("utf-8"), METRICS_CONTENT_TYPE)
            return
        body = self._read_body()
        if path == "/webhook":
            self._send_json(200, self._webhook(body))
        elif method == "POST":
            state, minutes = override_request(body)
            try:
                result = backend.set_override(state, minutes)
            except ValueError as err:
                raise _HttpError(400, str(err)) from err
            except OSError as err:  # it could not be kept (state_dir): refused rather than half-kept
                raise _HttpError(503, str(err)) from err
            self._send_json(200, result)
        else:
            result = backend.clear_override()
            self._send_json(200, result)

    def _webhook(self, body: bytes) -> Dict[str, Any]:
        content_type = self.headers.get("Content-Type", "")
        from adapters.jellyfin import is_playback_webhook  # Jellyfin's Webhook plugin and Emby's webhooks

        reason = is_playback_webhook(content_type, body)
        if reason is not None:
            self.app.backend.trigger_observation(reason)
            self.app.logger.debug("%s (observing now)", reason)
            return {"triggered": True, "event": reason.rsplit(" ", 1)[-1]}
        payload = webhook_payload(content_type, body)
        event = payload.get("event")
        if not isinstance(event, str) or not event:
            if "NotificationType" in payload or "Event" in payload:  # Jellyfin's or Emby's, not playback
                return {"triggered": False, "event": str(payload.get("NotificationType") or payload.get("Event"))[:64]}
            raise _HttpError(400, "the webhook payload has no 'event'")
        triggered = event in TRIGGER_EVENTS
        if triggered:
            self.app.backend.trigger_observation("plex webhook " + event)
        self.app.logger.debug("plex webhook %s (%s)", event, "observing now" if triggered else "ignored")
        return {"triggered": triggered, "event": event}

    # --- bodies --------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        """The whole body, at most max_body_bytes, within 3 read timeouts (a trickle cannot hold a thread)."""
        if not self._unread:
            return b""
        self._unread, self._mid_body = False, True  # a failure from here on leaves the stream out of step
        limit = self.app.max_body_bytes
        deadline = time.monotonic() + 3 * self.app.read_timeout_sec
        try:
            body = read_body(self.rfile, self._length, self._chunked, limit, deadline)
        except (socket.timeout, TimeoutError) as err:
            raise _HttpError(408, "the request body did not arrive in time") from err
        self._mid_body = False
        return body

    def _discard_body(self) -> None:
        """Before an early answer (401, 404...): read a small declared body so the connection can stay
        open; a chunked, oversized or broken one is left, and the connection closed after the answer."""
        if self._chunked or self._length is None or self._length > self.app.max_body_bytes:
            return
        try:
            self._read_body()
        except (_HttpError, OSError):
            pass

    def _linger(self) -> None:
        """After answering without reading the body: half-close, then discard what the client still
        sends for a moment, so that closing does not reset the connection before it reads the answer."""
        try:
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(0.5)
            end = time.monotonic() + 2.0
            received = 0
            while time.monotonic() < end and received < 4 * self.app.max_body_bytes:
                data = self.connection.recv(65536)
                if not data:
                    break
                received += len(data)
        except OSError:
            pass

    # --- answers -------------------------------------------------------------------------------

    def _send_json(self, status: int, payload: Any, headers: Iterable[Tuple[str, str]] = ()) -> None:
        body = (json.dumps(payload, default=str) + "\n").encode("utf-8")
        self._send(status, body, JSON_CONTENT_TYPE, headers)

    def _send(self, status: int, body: bytes, content_type: str, headers: Iterable[Tuple[str, str]] = ()) -> None:
        if getattr(self, "_unread", False):
            self._discard_body()
        unread = getattr(self, "_unread", False) or getattr(self, "_mid_body", False)
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for name, value in headers:
            self.send_header(name, value)
        if unread or self.close_connection:
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        if self.command != "HEAD" and status >= 200 and status not in (204, 304):
            self.wfile.write(body)
        self.wfile.flush()
        self._responded = True
        if unread:
            self._linger()


# --- the client -----------------------------------------------------------------------------------


class StatusClientError(UserFacingError):
    """A request to the daemon failed; `str()` is a sentence for the user."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class StatusClient:
    """Talks to a running daemon's status server (for `plex-helper override ...`)."""

    def __init__(self, url: str, token: str = "", timeout_sec: float = 5.0) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StatusClientError("the status URL must look like http://127.0.0.1:9911, not %r" % url)
        self.url = printable_url(url)  # never show credentials in messages
        self._base = url.strip().rstrip("/")
        self._token = token or ""
        self._pool = make_pool(timeout_sec)

    def health(self) -> Dict[str, Any]:
        """The daemon's health document (also when it reports itself unhealthy with 503)."""
        return self._request("GET", "/health", ok=(200, 503))

    def set_override(self, state: str, minutes: float) -> Dict[str, Any]:
        return self._request("POST", "/override", {"state": state, "minutes": minutes})

    def clear_override(self) -> Dict[str, Any]:
        return self._request("DELETE", "/override")

    def _request(self, method: str, path: str, payload: Any = None, ok: Tuple[int, ...] = (200,)) -> Dict[str, Any]:
        headers = {"Accept": JSON_CONTENT_TYPE}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode("utf-8")
            headers["Content-Type"] = JSON_CONTENT_TYPE
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        try:
            response = self._pool.request(method, self._base + path, body=body, headers=headers, redirect=False)
        except u3.HTTPError as err:
            raise StatusClientError(
                "plex-helper is not reachable at %s (%s); is the daemon running with its status server on?"
                % (self.url, describe_transport_error(err))
            ) from None
        status = response.status
        try:
            data = json.loads(response.data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if status == 401:
            if self._token:
                raise StatusClientError("plex-helper at %s rejected the token" % self.url, status)
            raise StatusClientError("plex-helper at %s requires a token" % self.url, status)
        if not isinstance(data, dict):
            raise StatusClientError(
                "%s answered %d with something that is not plex-helper's JSON; is that the right address?"
                % (self.url, status), status,
            )
        if status in ok:
            return data
        message = data.get("error") or response.reason or "no reason given"
        raise StatusClientError("plex-helper answered %d: %s" % (status, message), status)

    def close(self) -> None:
        self._pool.clear()


__all__ = [
    "METRICS_CONTENT_TYPE",
    "TRIGGER_EVENTS",
    "StatusBackend",
    "StatusClient",
    "StatusClientError",
    "StatusHttpServer",
    "StatusServerError",
    "parse_listen",
    "url_for_listen",
]
