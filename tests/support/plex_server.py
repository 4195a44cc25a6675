"""A local stand-in for Plex Media Server, for adapter, end-to-end, soak and benchmark tests.

    with PlexTestServer() as plex:                # or the `plex_server` pytest fixture
        plex.set_sessions([remote_movie()])
        PlexStreamSource(plex.url, plex.token).read_sessions()

Behaves like Plex where it matters to a client: token in the `X-Plex-Token` header (or the query
string, as Plex accepts both), a wrong token gets 401 with an HTML body, JSON only when the request
accepts it (XML otherwise), `/identity` without a token, and Server-Sent Events on
`/:/eventsource/notifications`. It listens on 127.0.0.1 only, and every setter is thread-safe.
"""
from __future__ import annotations

import json
import os
import queue
import select
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections import Counter, deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List, NamedTuple, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import quoteattr

import pytest

from tests.support.plex_payloads import container, playing_notification
from tests.support.waiting import wait_until

SESSIONS_PATH = "/status/sessions"
IDENTITY_PATH = "/identity"
EVENTS_PATH = "/:/eventsource/notifications"
DEFAULT_TOKEN = "plex-test-token-7f3a9c2e5b1d"  # distinctive, so tests can search logs for it
_HTML_ERROR = "<html><head><title>%(title)s</title></head><body><h1>%(code)d %(title)s</h1></body></html>"
_XML_TAGS = {"movie": "Video", "episode": "Video", "clip": "Video", "track": "Track", "photo": "Photo"}


class RecordedRequest(NamedTuple):
    """One request as the server saw it. `target` is the raw request target, query included."""

    method: str
    path: str
    target: str
    headers: Dict[str, str]
    client: Tuple[str, int]


def _xml_element(tag: str, value: Dict[str, Any]) -> str:
    """Plex's XML rendering of a JSON object: scalars as attributes, objects and lists as children."""
    attrs, children = [], []
    for key, field in value.items():
        if isinstance(field, dict):
            children.append(_xml_element(key, field))
        elif isinstance(field, list):
            children.extend(_xml_element(key, entry) for entry in field if isinstance(entry, dict))
        elif isinstance(field, bool):
            attrs.append("%s=%s" % (key, quoteattr("1" if field else "0")))
        elif field is not None:
            attrs.append("%s=%s" % (key, quoteattr(str(field))))
    head = " ".join([tag] + attrs)
    return "<%s>%s</%s>" % (head, "".join(children), tag) if children else "<%s/>" % head


def sessions_xml(items: List[Dict[str, Any]]) -> bytes:
    """What Plex answers to a request without `Accept: application/json`."""
    body = "".join(_xml_element(_XML_TAGS.get(str(item.get("type")), "Video"), item) for item in items)
    return ('<?xml version="1.0" encoding="UTF-8"?>\n<MediaContainer size="%d">%s</MediaContainer>\n'
            % (len(items), body)).encode("utf-8")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so tests can see a client reuse its connection
    server_version = "PlexMediaServer/test"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle plus the client's
    # delayed ACK add ~40 ms to every keep-alive request, which would swamp any benchmark.
    disable_nagle_algorithm = True
    plex: "PlexTestServer"  # set on a per-server subclass

    def setup(self) -> None:
        super().setup()
        self.plex._connection_opened(self.connection, self.client_address)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.plex._connection_closed(self.connection)

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        self.plex._handle(self)

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up, or refuse our self-signed certificate, are normal in these tests.
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)


class PlexTestServer:
    """A fake Plex Media Server on 127.0.0.1 and a free port. Start with `with` or `.start()`."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        version: str = "1.40.1.8227-c0dd5a73e",
        machine_identifier: str = "0123456789abcdef0123456789abcdef01234567",
        ping_interval: float = 10.0,
        tls: Optional[Tuple[str, str]] = None,
    ) -> None:
        """`tls=(cert_file, key_file)` serves HTTPS (see make_self_signed_cert)."""
        self.token = token
        self.tls = tls
        self.version = version
        self.machine_identifier = machine_identifier
        self.ping_interval = ping_interval
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sessions: Optional[List[Dict[str, Any]]] = []
        self._response: Tuple[int, str, bytes] = (200, "application/json", b"")
        self._delay = 0.0
        self._counts: Counter = Counter()
        # Bounded, so soak tests can run for hours; request_count stays exact.
        self._requests: "deque[RecordedRequest]" = deque(maxlen=1000)
        self._clients: Set[Tuple[str, int]] = set()
        self._open: Dict[socket.socket, Tuple[str, int]] = {}
        self._sse_clients: List["queue.Queue[Optional[bytes]]"] = []
        # None: stream events; else (status, content type, body) answered on the events path instead.
        self._events_answer: Optional[Tuple[int, str, bytes]] = None
        self._httpd: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.set_sessions([])

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> "PlexTestServer":
        return self._start_on(0)

    def _start_on(self, port: int) -> "PlexTestServer":
        if self._httpd is not None:
            return self
        handler = type("PlexHandler", (_Handler,), {"plex": self})
        self._stopping.clear()
        self._httpd = _QuietServer(("127.0.0.1", port), handler)
        if self.tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            # Handshake in the handler thread, not in accept(): a stalled client must not block others.
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True,
                                                     do_handshake_on_connect=False)
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="plex-test-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, wake delayed requests and SSE streams, and close open connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        self._stopping.set()
        httpd.shutdown()
        self.drop_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def restart(self, down_sec: float = 0.0) -> None:
        """Stop, stay down `down_sec` (clients get "connection refused"), and serve again on the
        same port, as a Plex restart does. Settings and counters are kept."""
        port = self.port
        self.stop()
        time.sleep(down_sec)
        self._start_on(port)

    def __enter__(self) -> "PlexTestServer":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("PlexTestServer is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return "%s://127.0.0.1:%d" % ("https" if self.tls else "http", self.port)

    # -- what /status/sessions answers ------------------------------------------------------------
    def set_sessions(self, items: List[Dict[str, Any]]) -> None:
        """Answer 200 with these Metadata items (see plex_payloads); XML if the client asks no JSON."""
        body = json.dumps(container(items)).encode("utf-8")
        with self._lock:
            self._sessions = [dict(item) for item in items]
            self._response = (200, "application/json", body)

    def set_payload(self, body: bytes, content_type: str = "application/json", status: int = 200) -> None:
        """Answer exactly this, whatever the Accept header (for XML, HTML, truncated JSON, ...)."""
        with self._lock:
            self._sessions = None
            self._response = (status, content_type, bytes(body))

    def set_status(self, status: int) -> None:
        """Answer this status with a small HTML error page, as Plex does (set_sessions undoes it)."""
        page = _HTML_ERROR % {"code": status, "title": "Error"}
        self.set_payload(page.encode("utf-8"), "text/html", status)

    def set_delay(self, seconds: float) -> None:
        """Wait this long before answering any request (stop() cuts the wait short)."""
        with self._lock:
            self._delay = float(seconds)

    # -- what the server saw ----------------------------------------------------------------------
    @property
    def request_count(self) -> Counter:
        """Requests per path (query excluded), e.g. `request_count["/status/sessions"]`; 0 if none."""
        with self._lock:
            return Counter(self._counts)

    @property
    def requests(self) -> List[RecordedRequest]:
        """The most recent requests (up to 1000), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def last_headers(self) -> Dict[str, str]:
        """Headers of the most recent request (any path); {} before the first one."""
        with self._lock:
            return dict(self._requests[-1].headers) if self._requests else {}

    @property
    def connection_count(self) -> int:
        """Distinct client connections seen since start (a keep-alive client stays at 1)."""
        with self._lock:
            return len(self._clients)

    def reset_counters(self) -> None:
        """Forget counts, recorded requests and seen connections (e.g. after a warm-up)."""
        with self._lock:
            self._counts.clear()
            self._requests.clear()
            self._clients = set(self._open.values())

    def drop_connections(self) -> None:
        """Close every open client connection, as a Plex restart or an idle timeout would."""
        with self._lock:
            for q in self._sse_clients:
                q.put(None)
            for conn in list(self._open):
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    # -- Server-Sent Events -----------------------------------------------------------------------
    @property
    def sse_client_count(self) -> int:
        with self._lock:
            return len(self._sse_clients)

    def wait_for_sse_clients(self, count: int = 1, timeout: float = 5.0) -> bool:
        """Block until `count` clients listen on the event stream; False on timeout."""
        return wait_until(lambda: self.sse_client_count >= count, timeout)

    def emit(self, message: Dict[str, Any]) -> int:
        """Push `data: <json>` to every connected SSE client; returns how many got it."""
        return self._broadcast(("data: %s\n\n" % json.dumps(message)).encode("utf-8"))

    def emit_playing_event(self, state: str = "playing", session_key: Optional[str] = "12",
                           rating_key: str = "4021", view_offset: int = 0) -> int:
        """A Plex `playing` notification (session_key=None leaves sessionKey out, as Plex sometimes does)."""
        return self.emit(playing_notification(state, session_key, rating_key, view_offset))

    def send_ping(self) -> int:
        return self._broadcast(b"event: ping\ndata: {}\n\n")

    def emit_raw(self, chunk: bytes) -> int:
        """Push these bytes as they are (several events, partial lines, comments, CRLF endings, ...)."""
        return self._broadcast(bytes(chunk))

    def drop_sse_clients(self) -> int:
        """End every open event stream (the server keeps running); returns how many were ended."""
        with self._lock:
            for q in self._sse_clients:
                q.put(None)
            return len(self._sse_clients)

    def set_events_answer(self, status: int = 404, content_type: str = "text/html",
                          body: Optional[bytes] = None) -> None:
        """Answer the events path with this instead of a stream (a server without SSE, a proxy's
        HTML page); `body` defaults to an HTML error page. The token is still checked first."""
        if body is None:
            body = (_HTML_ERROR % {"code": status, "title": "Error"}).encode("utf-8")
        with self._lock:
            self._events_answer = (status, content_type, bytes(body))

    def set_events_streaming(self) -> None:
        """Undo set_events_answer: stream events again."""
        with self._lock:
            self._events_answer = None

    def _broadcast(self, chunk: bytes) -> int:
        with self._lock:
            for q in self._sse_clients:
                q.put(chunk)
            return len(self._sse_clients)

    # -- request handling (server threads) --------------------------------------------------------
    def _connection_opened(self, conn: socket.socket, client: Tuple[str, int]) -> None:
        with self._lock:
            self._open[conn] = client
            self._clients.add(client)

    def _connection_closed(self, conn: socket.socket) -> None:
        with self._lock:
            self._open.pop(conn, None)

    def _handle(self, h: _Handler) -> None:
        target = urlsplit(h.path)
        headers = {k: v for k, v in h.headers.items()}
        with self._lock:
            self._counts[target.path] += 1
            self._requests.append(RecordedRequest(h.command, target.path, h.path, headers, h.client_address))
            delay = self._delay
        if delay > 0 and self._stopping.wait(delay):
            h.close_connection = True  # stopped while waiting: never answer
            return
        if target.path == IDENTITY_PATH:  # Plex answers /identity without a token
            body = {"MediaContainer": {"size": 0, "claimed": True, "machineIdentifier": self.machine_identifier,
                                       "version": self.version}}
            return self._send(h, 200, "application/json", json.dumps(body).encode("utf-8"))
        token = h.headers.get("X-Plex-Token") or parse_qs(target.query).get("X-Plex-Token", [""])[0]
        if token != self.token:
            return self._send(h, 401, "text/html", (_HTML_ERROR % {"code": 401, "title": "Unauthorized"}).encode())
        if target.path == SESSIONS_PATH:
            with self._lock:
                status, content_type, body = self._response
                items = self._sessions
            if items is not None and "json" not in h.headers.get("Accept", ""):
                status, content_type, body = 200, "text/xml;charset=utf-8", sessions_xml(items)
            return self._send(h, status, content_type, body)
        if target.path == EVENTS_PATH:
            with self._lock:
                answer = self._events_answer
            if answer is not None:
                return self._send(h, *answer)
            return self._stream_events(h)
        self._send(h, 404, "text/html", (_HTML_ERROR % {"code": 404, "title": "Not Found"}).encode())

    @staticmethod
    def _send(h: _Handler, status: int, content_type: str, body: bytes) -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _stream_events(self, h: _Handler) -> None:
        h.close_connection = True
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.flush()
        mailbox: "queue.Queue[Optional[bytes]]" = queue.Queue()
        with self._lock:
            self._sse_clients.append(mailbox)
        next_ping = time.monotonic() + self.ping_interval
        try:
            while not self._stopping.is_set():
                try:
                    chunk = mailbox.get(timeout=max(0.0, min(0.05, next_ping - time.monotonic())))
                except queue.Empty:
                    # Notice a client that hung up now, not at the next write, so sse_client_count
                    # tells tests the truth soon after a client closes its stream.
                    if _client_gone(h.connection):
                        break
                    if time.monotonic() < next_ping:
                        continue
                    chunk = b"event: ping\ndata: {}\n\n"
                if chunk is None:
                    break
                h.wfile.write(chunk)
                h.wfile.flush()
                next_ping = time.monotonic() + self.ping_interval
        except OSError:  # the client went away
            pass
        finally:
            with self._lock:
                self._sse_clients.remove(mailbox)


def _client_gone(conn: socket.socket) -> bool:
    """True once the peer closed its side (readable, and a peek sees end of file)."""
    try:
        if not select.select([conn], [], [], 0)[0]:
            return False
        # The plain socket's recv: SSLSocket.recv refuses flags; a raw FIN is b"" either way.
        return socket.socket.recv(conn, 1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def make_self_signed_cert(directory: str) -> Tuple[str, str]:
    """A certificate for 127.0.0.1 (cert, key) made with the openssl CLI; skips the test without it."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = os.path.join(directory, "plex-cert.pem"), os.path.join(directory, "plex-key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=60)
    return cert, key


@pytest.fixture
def plex_server() -> Iterator[PlexTestServer]:
    """A started PlexTestServer with no sessions, stopped after the test."""
    with PlexTestServer() as server:
        yield server


@pytest.fixture
def plex_tls_server(tmp_path: Any) -> Iterator[PlexTestServer]:
    """Like plex_server, over HTTPS with a self-signed certificate; its path is `server.tls[0]`."""
    with PlexTestServer(tls=make_self_signed_cert(str(tmp_path))) as server:
        yield server
