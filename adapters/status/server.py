"""The HTTP status server: dashboard, health, history, Prometheus metrics, webhooks and the override.

A stdlib `ThreadingHTTPServer` in a daemon thread, with `http.server` doing the HTTP. It must never
block or crash the poll loop: it only talks to a `StatusBackend` (whose methods are quick and
thread-safe), every failure inside a request becomes a JSON error answer and a log line, and a
client holds a thread for a bounded time only. The parts:

    status_connections      the listening socket; connections capped in total and per address
    status_handler          one connection: body framing and caps, JSON errors, no tracebacks
    status_deadline_reader  the request head under one deadline, header lines capped
    status_routes           which path answers what, and the token rules
    request_origin          Host names served (DNS rebinding), same-origin and loopback rules
    webhook_body            request bodies, parsed flat without recursion
    status_client           the other end, for the `plex-helper override` command

Routes (all answers JSON except / and /metrics):

    GET    /             the dashboard page
    GET    /api/history  backend.history(since, until, max_points)
    GET    /api/override whether this client may set the override, and if not what setting would let it
    GET    /health       backend.health() with its status code (200 or 503)
    GET    /metrics      Prometheus text format 0.0.4
    POST   /webhook      Plex's webhook (multipart/form-data with a `payload` part; also
                         application/json, or form-encoded `payload=`) and Jellyfin's and Emby's;
                         playback events wake the loop for an observation now
    POST   /override     {"state": "streaming"|"idle", "minutes": N}
    DELETE /override     ends the override

With a token configured, POST and DELETE need `Authorization: Bearer <token>`. Plex cannot send
headers with its webhook, so /webhook also takes the token as `?token=` in the URL configured in
Plex; the query string is never logged. GETs are open. It listens on loopback unless configured.
Every request must name a Host the server serves (else 421); POST and DELETE from a browser must
come from the page's own origin (else 403); POST /override takes application/json only (415), which
a cross-site form or no-cors fetch cannot send; without a token the override is accepted from this
machine only, unless allow_lan_override (403). GET /api/override says whether this client may set it.
"""
from __future__ import annotations

import hmac
import logging
import socket
import threading
from typing import Optional, Sequence, Set, Tuple

from adapters.status.client import StatusClient, StatusClientError
from adapters.status.connections import CappedHTTPServer
from adapters.status.handler import StatusRequestHandler
from adapters.status.request_origin import ServedHosts, machine_names
from adapters.status.routes import JSON_CONTENT_TYPE, METRICS_CONTENT_TYPE, TRIGGER_EVENTS, history_request
from domain.ports import StatusBackend, UserFacingError

DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_READ_TIMEOUT_SEC = 10.0
DEFAULT_MAX_CONNECTIONS = 32
DEFAULT_MAX_CONNECTIONS_PER_ADDRESS = 8  # so that one client cannot take every slot
DEFAULT_HEAD_DEADLINE_SEC = 10.0  # for the request line and headers together, however they trickle in


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


def served_hosts(listen: str, allowed_hosts: Sequence[str] = ()) -> ServedHosts:
    """The Host names a server configured with `listen` and `status_allowed_hosts` answers."""
    return ServedHosts.for_listen(parse_listen(listen)[0], allowed_hosts, machine_names())


def url_for_listen(listen: str) -> str:
    """The URL a local client uses to reach a server configured with `listen`."""
    host, port = parse_listen(listen)
    return "http://%s:%d" % (_url_host(host), port)


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
        allowed_hosts: Sequence[str] = (),
        allow_lan_override: bool = False,
        guard_reading: bool = False,
    ) -> None:
        self.listen = listen
        self._host, self._port = parse_listen(listen)
        self.backend = backend
        self._token = token or ""
        self.logger = logger or logging.getLogger("plex_helper.status")
        self.max_body_bytes = max_body_bytes
        self.read_timeout_sec = read_timeout_sec  # the longest silence while reading
        self.max_connections = max_connections
        self.max_connections_per_address = max_connections_per_address
        self.head_deadline_sec = head_deadline_sec
        self.allowed_hosts = tuple(allowed_hosts)  # status_allowed_hosts: names beyond the machine's own
        self.allow_lan_override = allow_lan_override  # status_allow_lan_override: no token, yet from the LAN
        self.guard_reading = guard_reading  # status_token_guards_reading: reading needs the token too
        self.served_hosts = ServedHosts.for_listen(self._host, self.allowed_hosts)  # the machine's names at start()
        self._refused_hosts: Set[str] = set()  # logged once each
        self._lifecycle = threading.Lock()
        self._httpd: Optional[CappedHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._address: Optional[Tuple[str, int]] = None

    def start(self) -> "StatusHttpServer":
        with self._lifecycle:
            if self._httpd is not None:
                return self
            self.served_hosts = served_hosts(self.listen, self.allowed_hosts)
            family = socket.AF_INET6 if ":" in self._host else socket.AF_INET
            server_class = type("StatusServer", (CappedHTTPServer,), {"address_family": family})
            handler_class = type("StatusHandler", (StatusRequestHandler,), {"app": self})
            try:
                httpd = server_class(
                    (self._host, self._port), handler_class, max_connections=self.max_connections,
                    max_connections_per_address=self.max_connections_per_address, logger=self.logger,
                )
            except OSError as err:
                reason = err.strerror or type(err).__name__
                raise StatusServerError("status server cannot listen on %s: %s" % (self.listen, reason)) from err
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

    @property
    def token_required(self) -> bool:
        return bool(self._token)

    def note_refused_host(self, host: str) -> None:
        """A WARNING the first time a Host name is refused (at most 100 names, so that a flood of names
        cannot fill the log or the memory)."""
        name = host.strip()[:100]
        with self._lifecycle:
            if name in self._refused_hosts or len(self._refused_hosts) >= 100:
                return
            self._refused_hosts.add(name)
        self.logger.warning("status server: refused a request for the host name %r (DNS rebinding defence); if that "
                            "is how you reach plex-helper, add it to status_allowed_hosts", name)

    def authorized(self, authorization: Optional[str], query_token: Optional[str]) -> bool:
        """True without a token configured, or when the Bearer header or `query_token` carries it."""
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


__all__ = [
    "JSON_CONTENT_TYPE",
    "METRICS_CONTENT_TYPE",
    "TRIGGER_EVENTS",
    "StatusBackend",
    "StatusClient",
    "StatusClientError",
    "StatusHttpServer",
    "StatusServerError",
    "history_request",
    "parse_listen",
    "served_hosts",
    "url_for_listen",
]
