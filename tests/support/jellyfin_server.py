"""Local stand-ins for Jellyfin and Emby (HTTP API and WebSocket push), and a scriptable WebSocket
server for the client's own tests. Everything listens on 127.0.0.1 only and stops every connection
on exit.

    with JellyfinTestServer(JELLYFIN) as server:          # or EMBY
        server.set_sessions([direct_play_remote(now=time.time())])
        JellyfinStreamSource(JELLYFIN, server.url, server.api_key).read_sessions()
        server.push_sessions([...])                        # to every connected push client

    with WebSocketTestServer(handler) as ws_server:       # handler(conn, request) scripts the server
        connect(ws_server.url)

Behaves like the real servers where it matters to a client: Jellyfin takes the key only as
`Authorization: MediaBrowser Token="..."` on HTTP (as 12.0 does with legacy authorization off) and
`ApiKey` (or the header) on its WebSocket `/socket`; Emby takes `X-Emby-Token` or `api_key` and has
its API under `/emby`, its WebSocket at `/embywebsocket`. `/System/Info/Public` needs no key.
"""
from __future__ import annotations

import base64
import hashlib
import json
import queue
import socket
import ssl
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

from adapters.media.jellyfin.source import JELLYFIN, ServerKind

DEFAULT_API_KEY = "jf-test-key-5d41402abc4b2a76b9719d911017c592"  # distinctive, so tests can search logs
GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class Frame(NamedTuple):
    fin: bool
    opcode: int
    masked: bool
    payload: bytes
    rsv: int = 0


class Request(NamedTuple):
    path: str
    query: Dict[str, List[str]]
    headers: Dict[str, str]  # lower-case names


class ServerSide:
    """The server's end of one WebSocket connection: raw frames in and out, for scripting."""

    def __init__(self, sock: socket.socket, rfile: Any, wfile: Any) -> None:
        self.sock, self.rfile, self.wfile = sock, rfile, wfile
        self._lock = threading.Lock()

    def send_raw(self, data: bytes) -> None:
        with self._lock:
            self.wfile.write(data)
            self.wfile.flush()

    def handshake(self, request: Request, accept: Optional[str] = None, extra: str = "") -> None:
        """Answer 101 with the right Sec-WebSocket-Accept, or `accept` when given (to test refusal)."""
        key = request.headers.get("sec-websocket-key", "")
        good = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
        self.send_raw(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                       "Sec-WebSocket-Accept: %s\r\n%s\r\n" % (accept if accept is not None else good, extra)).encode())

    def frame_bytes(self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, masked: bool = False) -> bytes:
        n = len(payload)
        first = (0x80 if fin else 0) | (rsv << 4) | opcode
        mask_bit = 0x80 if masked else 0
        if n < 126:
            head = struct.pack("!BB", first, mask_bit | n)
        elif n < 65536:
            head = struct.pack("!BBH", first, mask_bit | 126, n)
        else:
            head = struct.pack("!BBQ", first, mask_bit | 127, n)
        if masked:
            key = b"\x01\x02\x03\x04"
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
            head += key
        return head + payload

    def send_frame(self, opcode: int, payload: bytes, fin: bool = True, rsv: int = 0, masked: bool = False) -> None:
        self.send_raw(self.frame_bytes(opcode, payload, fin, rsv, masked))

    def send_text(self, text: str) -> None:
        self.send_frame(0x1, text.encode("utf-8"))

    def send_json(self, message: Any) -> None:
        self.send_text(json.dumps(message))

    def recv_frame(self, timeout: float = 5.0) -> Optional[Frame]:
        """The next frame from the client (unmasked), or None when it closed the connection."""
        self.sock.settimeout(timeout)
        try:
            head = self._read(2)
            if head is None:
                return None
            b0, b1 = head
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2) or b"\0\0")[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8) or b"\0" * 8)[0]
            key = self._read(4) if b1 & 0x80 else None
            payload = self._read(n) if n else b""
        except (OSError, ValueError):
            return None
        if payload is None:
            return None
        if key:
            payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
        return Frame(bool(b0 & 0x80), b0 & 0x0F, bool(b1 & 0x80), payload, (b0 >> 4) & 0x7)

    def _read(self, n: int) -> Optional[bytes]:
        data = self.rfile.read(n)
        return data if data is not None and len(data) == n else None

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def read_request(rfile: Any) -> Optional[Request]:
    line = rfile.readline(8192)
    if not line:
        return None
    target = line.decode("latin-1").split(" ")[1] if b" " in line else "/"
    headers: Dict[str, str] = {}
    while True:
        header = rfile.readline(8192)
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        headers[name.strip().lower()] = value.strip()
    parts = urlsplit(target)
    return Request(parts.path, parse_qs(parts.query), headers)


class WebSocketTestServer:
    """A raw TCP server whose `handler(conn, request)` scripts each connection (handshake included)."""

    def __init__(self, handler: Callable[[ServerSide, Request], None], tls: Optional[Tuple[str, str]] = None) -> None:
        self.handler = handler
        self.requests: List[Request] = []
        self.errors: List[BaseException] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._context: Optional[ssl.SSLContext] = None
        if tls:
            self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._context.load_cert_chain(*tls)
        self.port = self._listener.getsockname()[1]
        self.url = "%s://127.0.0.1:%d/socket" % ("wss" if tls else "ws", self.port)
        self._conns: List[socket.socket] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def __enter__(self) -> "WebSocketTestServer":
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._listener.close()
        with self._lock:
            for conn in self._conns:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                conn.close()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                self._conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        try:
            if self._context is not None:
                conn.settimeout(5)
                conn = self._context.wrap_socket(conn, server_side=True)
                with self._lock:
                    self._conns.append(conn)
            rfile, wfile = conn.makefile("rb"), conn.makefile("wb")
            request = read_request(rfile)
            if request is None:
                return
            self.requests.append(request)
            self.handler(ServerSide(conn, rfile, wfile), request)
        except (OSError, ValueError):
            pass
        except BaseException as exc:  # noqa: BLE001 - shown by the test that reads .errors
            self.errors.append(exc)
        finally:
            try:
                conn.close()
            except OSError:
                pass


# ----------------------------------------------------------------------------------- Jellyfin / Emby


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    owner: "JellyfinTestServer"

    def do_GET(self) -> None:  # noqa: N802
        self.owner._handle(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class JellyfinTestServer:
    """A stand-in Jellyfin (or Emby, by `kind`) with sessions, server info, network configuration and
    a push WebSocket. Setters are thread-safe; `requests` records (path, headers) of HTTP requests."""

    def __init__(self, kind: ServerKind = JELLYFIN, api_key: str = DEFAULT_API_KEY, version: str = "10.10.7") -> None:
        self.kind = kind
        self.api_key = api_key
        self.version = version
        self._lock = threading.Lock()
        self._sessions_body = b"[]"
        self._sessions_status = 200
        self._network: Tuple[int, Any] = (200, {"LocalNetworkSubnets": []})
        self.push_status = 101  # another value: the WebSocket path answers it instead (404: not offered)
        self.push_mode = "normal"  # "junk": send junk, then drop; "drop": accept, then drop at once
        self.force_keepalive: Optional[float] = 60  # sent on connect, as Jellyfin does; None: not sent
        self.silent = False  # True: a half-dead server, answering neither pings nor KeepAlive
        self.requests: List[Tuple[str, Dict[str, str]]] = []
        self.push_requests: List[Request] = []
        self.client_messages: "queue.Queue[str]" = queue.Queue()
        self.client_pings = 0
        self._clients: List[ServerSide] = []
        handler = type("Handler", (_Handler,), {"owner": self})
        self._httpd = _QuietServer(("127.0.0.1", 0), handler)
        self.url = "http://127.0.0.1:%d" % self._httpd.server_address[1]
        self._thread: Optional[threading.Thread] = None

    def __enter__(self) -> "JellyfinTestServer":
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.drop_push_clients()
        self._httpd.shutdown()
        self._httpd.server_close()

    # -- setters -----------------------------------------------------------------------------------
    def set_sessions(self, entries: List[Dict[str, Any]]) -> None:
        with self._lock:
            self._sessions_body, self._sessions_status = json.dumps(entries).encode(), 200

    def set_payload(self, body: bytes, status: int = 200) -> None:
        with self._lock:
            self._sessions_body, self._sessions_status = body, status

    def set_network(self, subnets: Optional[List[str]], status: int = 200) -> None:
        with self._lock:
            self._network = (status, {"LocalNetworkSubnets": subnets} if subnets is not None else {})

    # -- push --------------------------------------------------------------------------------------
    def push(self, message: Any) -> int:
        """Send a JSON message to every push client; the number reached."""
        return self.push_raw(json.dumps(message))

    def push_sessions(self, entries: List[Dict[str, Any]]) -> int:
        return self.push({"MessageType": "Sessions", "Data": entries})

    def push_raw(self, text: str) -> int:
        with self._lock:
            clients = list(self._clients)
        reached = 0
        for client in clients:
            try:
                client.send_text(text)
                reached += 1
            except OSError:
                pass
        return reached

    def push_client_count(self) -> int:
        with self._lock:
            return len(self._clients)

    def drop_push_clients(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients), []
        for client in clients:
            client.close()

    def next_client_message(self, timeout: float = 5.0) -> Optional[Dict[str, Any]]:
        try:
            return json.loads(self.client_messages.get(timeout=timeout))
        except queue.Empty:
            return None

    # -- serving -----------------------------------------------------------------------------------
    def _authorized(self, h: _Handler, query: Dict[str, List[str]], websocket: bool) -> bool:
        key = self.api_key
        if self.kind is JELLYFIN:
            header = h.headers.get("Authorization", "")
            if header == 'MediaBrowser Token="%s"' % key:
                return True
            return websocket and query.get("ApiKey", [""])[-1] == key
        return h.headers.get("X-Emby-Token") == key or query.get("api_key", [""])[-1] == key

    def _handle(self, h: _Handler) -> None:
        parts = urlsplit(h.path)
        query = parse_qs(parts.query)
        with self._lock:
            self.requests.append((parts.path, dict(h.headers.items())))
        prefix = self.kind.api_prefix
        path = parts.path
        if path == self.kind.push_path:
            return self._websocket(h, query)
        if path == prefix + "/System/Info/Public":
            return self._send(h, 200, json.dumps({
                "LocalAddress": self.url, "ServerName": "nas", "Version": self.version,
                "ProductName": "Jellyfin Server" if self.kind is JELLYFIN else "Emby Server",
                "OperatingSystem": "Linux", "Id": "0123456789abcdef", "StartupWizardCompleted": True}).encode())
        if not self._authorized(h, query, websocket=False):
            return self._send(h, 401, b"", "text/plain")
        if path == prefix + "/Sessions":
            with self._lock:
                status, body = self._sessions_status, self._sessions_body
            return self._send(h, status, body)
        if path == prefix + self.kind.network_config_path:
            with self._lock:
                status, config = self._network
            return self._send(h, status, json.dumps(config).encode() if status == 200 else b"")
        self._send(h, 404, b"<html><body>Not found</body></html>", "text/html")

    @staticmethod
    def _send(h: _Handler, status: int, body: bytes, content_type: str = "application/json") -> None:
        h.send_response(status)
        h.send_header("Content-Type", content_type)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)

    def _websocket(self, h: _Handler, query: Dict[str, List[str]]) -> None:
        headers = {k.lower(): v for k, v in h.headers.items()}
        request = Request(self.kind.push_path, query, headers)
        with self._lock:
            self.push_requests.append(request)
        if self.push_status != 101:
            return self._send(h, self.push_status, b"<html>no</html>", "text/html")
        if not self._authorized(h, query, websocket=True):
            return self._send(h, 401, b"", "text/plain")
        h.close_connection = True
        conn = ServerSide(h.connection, h.rfile, h.wfile)
        conn.handshake(request)
        if self.push_mode == "junk":
            conn.send_text("this is not JSON")
            conn.send_frame(0x2, b"\x00\x01binary")
            conn.close()
            return
        if self.push_mode == "drop":
            conn.close()
            return
        if self.force_keepalive is not None:
            conn.send_json({"MessageType": "ForceKeepAlive", "Data": self.force_keepalive})
        with self._lock:
            self._clients.append(conn)
        try:
            self._serve_client(conn)
        finally:
            with self._lock:
                if conn in self._clients:
                    self._clients.remove(conn)
            conn.close()

    def _serve_client(self, conn: ServerSide) -> None:
        fragments = b""
        while True:
            frame = conn.recv_frame(timeout=30.0)
            if frame is None or not frame.masked:
                return  # a client frame must be masked: anything else ends the connection
            if frame.opcode == 0x8:
                try:
                    conn.send_frame(0x8, frame.payload[:2])
                except OSError:
                    pass
                return
            if frame.opcode == 0x9:
                self.client_pings += 1
                if not self.silent:
                    conn.send_frame(0xA, frame.payload)
                continue
            if frame.opcode in (0x0, 0x1):
                fragments += frame.payload
                if frame.fin:
                    text, fragments = fragments.decode("utf-8", "replace"), b""
                    self.client_messages.put(text)
                    try:
                        message = json.loads(text)
                    except ValueError:
                        continue
                    if isinstance(message, dict) and message.get("MessageType") == "KeepAlive" and not self.silent:
                        conn.send_json({"MessageType": "KeepAlive"})


class StoppableJellyfin(JellyfinTestServer):
    """The Jellyfin stand-in, able to go down for real: `go_down()` stops listening and cuts every
    open connection (a keep-alive connection would otherwise go on being answered)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen: Set[socket.socket] = set()
        self._seen_lock = threading.Lock()
        self.down = False

    def _handle(self, h: Any) -> None:
        with self._seen_lock:
            self._seen.add(h.connection)
        super()._handle(h)

    def go_down(self) -> None:
        if self.down:
            return
        self.down = True
        super().__exit__()
        with self._seen_lock:
            connections = list(self._seen)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __exit__(self, *exc: object) -> None:
        self.go_down()
