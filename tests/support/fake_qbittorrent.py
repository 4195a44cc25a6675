"""A small in-process HTTP server that behaves like qBittorrent 5.2's Web API (for tests only).

It listens on 127.0.0.1 (port 0 = any free port) in a background thread and implements what the
adapter uses, with 5.2's auth rules: login answers 204 / 401 `Unauthorized` / 403 (ban), the session
cookie is `QBT_SID_<webui_port>` where webui_port is the port qBittorrent *thinks* it has (it can
differ from the real listening port, as behind Docker), an expired session gives 403, `Authorization:
Bearer qbt_...` API keys work, and auth can be bypassed. It counts every request so benchmarks and
soak tests can assert, e.g., that nothing is written in steady state.

    with FakeQBittorrent(username="admin", password="secret") as qbt:
        qbt.url            # http://127.0.0.1:<port>
        qbt.expire_sessions(); qbt.go_down(); qbt.come_up()
        qbt.fail_with("transfer/uploadLimit", 500)
        qbt.writes, qbt.reads, qbt.logins, qbt.count("transfer/uploadLimit")
"""
from __future__ import annotations

import collections
import email.utils
import secrets
import socket
import string
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Counter, Dict, List, Optional, Set, Tuple
from urllib.parse import parse_qs, urlsplit

BAN_BODY = "Your IP address has been banned after too many failed authentication attempts."
_API = "/api/v2/"
# setters: POST only (405 otherwise), and what counts as a "write" in the counters
WRITE_ENDPOINTS = frozenset({"transfer/setUploadLimit", "transfer/setDownloadLimit", "transfer/setSpeedLimitsMode",
                             "transfer/toggleSpeedLimitsMode", "app/setPreferences"})


def make_api_key() -> str:
    """A key shaped like 5.2's: `qbt_` and 28 letters/digits."""
    alphabet = string.ascii_letters + string.digits
    return "qbt_" + "".join(secrets.choice(alphabet) for _ in range(28))


def stored_upload_limit(limit: int) -> int:
    """What qBittorrent stores for setUploadLimit: whole KiB, rounded down, 1 KiB minimum; <= 0 = unlimited."""
    if limit <= 0:
        return 0
    return max(1, limit // 1024) * 1024


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake saw it (headers with lower-case names)."""

    method: str
    endpoint: str  # e.g. "transfer/uploadLimit", without /api/v2/
    headers: Dict[str, str]
    form: Dict[str, str]
    status: int


@dataclass
class _Fault:
    status: int
    body: str
    times: Optional[int]  # None = until cleared


class FakeQBittorrent:
    """qBittorrent 5.2 look-alike. All attributes set in the constructor may be changed while it runs."""

    def __init__(
        self,
        username: str = "admin",
        password: str = "adminadmin",
        api_key: Optional[str] = None,
        webui_port: int = 8080,
        max_fail: int = 5,
        ban_seconds: float = 3600.0,
        bypass_auth: bool = False,
        host_header_validation: bool = False,
        session_timeout: float = 0.0,
        response_delay: float = 0.0,
        version: str = "v5.2.0",
        webapi_version: str = "2.15.1",
        port: int = 0,
    ) -> None:
        self.username = username
        self.password = password
        self.api_key = api_key
        self.webui_port = webui_port  # qBittorrent's own configured port: cookie name and Host check
        self.max_fail = max_fail  # 0 = never ban
        self.ban_seconds = ban_seconds
        self.bypass_auth = bypass_auth
        self.host_header_validation = host_header_validation
        self.session_timeout = session_timeout  # idle seconds; 0 = sessions never time out
        self.response_delay = response_delay
        self.version = version
        self.webapi_version = webapi_version
        self.upload_limit = 0
        self.download_limit = 0
        self.requests: List[RecordedRequest] = []
        self._counts: Counter[Tuple[str, str]] = collections.Counter()
        self._sessions: Dict[str, float] = {}  # sid -> last use (time.monotonic)
        self._sessions_created = 0
        self._fail_count = 0
        self._banned_until = 0.0
        self._faults: Dict[str, _Fault] = {}
        self._lock = threading.RLock()
        self._port = port
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self._conns: Set[socket.socket] = set()

    # ---------------------------------------------------------------- lifecycle

    def start(self) -> "FakeQBittorrent":
        self.come_up()
        return self

    def stop(self) -> None:
        self.go_down()

    def __enter__(self) -> "FakeQBittorrent":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        return self._port

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self._port

    @property
    def cookie_name(self) -> str:
        return "QBT_SID_%d" % self.webui_port

    def come_up(self) -> None:
        """Listen (again, on the same port once it had one) and answer."""
        if self._server is not None:
            return
        fake = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

            def get_request(self) -> Tuple[socket.socket, object]:
                conn, addr = super().get_request()
                with fake._lock:
                    fake._conns.add(conn)
                return conn, addr

            def shutdown_request(self, request: socket.socket) -> None:  # type: ignore[override]
                with fake._lock:
                    fake._conns.discard(request)
                super().shutdown_request(request)

            def handle_error(self, request: object, client_address: object) -> None:
                pass  # connections cut by go_down() are expected

        self._server = Server(("127.0.0.1", self._port), _handler_class(self))
        self._port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-qbittorrent", daemon=True)
        self._thread.start()

    def go_down(self) -> None:
        """Stop listening and cut open keep-alive connections: clients get 'connection refused'."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---------------------------------------------------------------- test controls

    def expire_sessions(self) -> None:
        """Forget every session, as an idle timeout or a restart would: the next request gets 403."""
        with self._lock:
            self._sessions.clear()

    def unban(self) -> None:
        with self._lock:
            self._banned_until, self._fail_count = 0.0, 0

    @property
    def banned(self) -> bool:
        return time.monotonic() < self._banned_until

    def fail_with(self, endpoint: str, status: int, body: str = "", times: Optional[int] = None) -> None:
        """Answer `status`/`body` on endpoint (e.g. "transfer/uploadLimit", "auth/login") after the auth
        check, `times` times or until clear_faults(). 200 with a body replaces a getter's answer."""
        with self._lock:
            self._faults[endpoint] = _Fault(status, body, times)

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # ---------------------------------------------------------------- counters

    def count(self, endpoint: str, method: Optional[str] = None) -> int:
        with self._lock:
            return sum(n for (m, e), n in self._counts.items() if e == endpoint and method in (None, m))

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    @property
    def logins(self) -> int:
        return self.count("auth/login")

    @property
    def writes(self) -> int:
        """Requests to setters (config writes in the real qBittorrent)."""
        with self._lock:
            return sum(n for (_, e), n in self._counts.items() if e in WRITE_ENDPOINTS)

    @property
    def reads(self) -> int:
        """Requests other than setters and auth/*."""
        with self._lock:
            return sum(n for (_, e), n in self._counts.items()
                       if e not in WRITE_ENDPOINTS and not e.startswith("auth/"))

    @property
    def by_method(self) -> Dict[str, int]:
        with self._lock:
            out: Counter[str] = collections.Counter()
            for (m, _), n in self._counts.items():
                out[m] += n
            return dict(out)

    @property
    def sessions_created(self) -> int:
        return self._sessions_created

    def reset_counts(self) -> None:
        with self._lock:
            self._counts.clear()
            self.requests.clear()

    # ---------------------------------------------------------------- request handling

    def _new_session(self) -> str:
        sid = secrets.token_urlsafe(24)[:32]
        self._sessions[sid] = time.monotonic()
        self._sessions_created += 1
        return sid

    def _cookie_header(self, sid: str) -> str:
        expires = email.utils.formatdate(time.time() + 3600, usegmt=True)
        return "%s=%s; HttpOnly; SameSite=Strict; expires=%s; path=/" % (self.cookie_name, sid, expires)

    def _valid_sid(self, cookies: Dict[str, str]) -> Optional[str]:
        sid = cookies.get(self.cookie_name, "").strip('"')
        last = self._sessions.get(sid)
        if last is None:
            return None
        if self.session_timeout and time.monotonic() - last > self.session_timeout:
            del self._sessions[sid]
            return None
        self._sessions[sid] = time.monotonic()
        return sid

    def handle(self, method: str, endpoint: str, headers: Dict[str, str], form: Dict[str, str]
               ) -> Tuple[int, str, List[str]]:
        """(status, body, Set-Cookie values) for one request."""
        with self._lock:
            self._counts[(method, endpoint)] += 1
            status, body, cookies = self._answer(method, endpoint, headers, form)
            self.requests.append(RecordedRequest(method, endpoint, dict(headers), dict(form), status))
            return status, body, cookies

    def _answer(self, method: str, endpoint: str, headers: Dict[str, str], form: Dict[str, str]
                ) -> Tuple[int, str, List[str]]:
        bearer = headers.get("authorization", "")
        if not bearer.startswith("Bearer ") and not self._host_and_csrf_ok(headers):
            return 401, "Unauthorized", []
        cookies = _parse_cookie_header(headers.get("cookie", ""))
        if endpoint == "auth/login":
            return self._login(method, cookies, form)
        if endpoint == "auth/logout":
            sid = self._valid_sid(cookies)
            if sid:
                del self._sessions[sid]
            return 200, "", ["%s=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/" % self.cookie_name]
        set_cookies: List[str] = []
        if bearer.startswith("Bearer "):
            if not self.api_key or bearer[7:].strip() != self.api_key:
                return 403, "Forbidden", []
        elif self._valid_sid(cookies) is None:
            if not self.bypass_auth:
                return 403, "Forbidden", []
            set_cookies.append(self._cookie_header(self._new_session()))  # as qBittorrent does
        fault = self._take_fault(endpoint)
        if fault is not None and not (fault.status == 200 and fault.body):
            return fault.status, fault.body, set_cookies
        status, body = self._endpoint(method, endpoint, form)
        if fault is not None:
            body = fault.body
        return status, body, set_cookies

    def _host_and_csrf_ok(self, headers: Dict[str, str]) -> bool:
        host = headers.get("host", "")
        if self.host_header_validation and host.rpartition(":")[2] != str(self.webui_port):
            return False
        for name in ("origin", "referer"):
            if headers.get(name):
                if urlsplit(headers[name]).netloc.lower() != host.lower():
                    return False
        return True

    def _login(self, method: str, cookies: Dict[str, str], form: Dict[str, str]) -> Tuple[int, str, List[str]]:
        if method != "POST":
            return 405, "Method Not Allowed", []
        fault = self._take_fault("auth/login")
        if fault is not None:
            return fault.status, fault.body, []
        if self._valid_sid(cookies) is not None:
            return 204, "", []  # an existing session short-circuits login
        if time.monotonic() < self._banned_until:
            return 403, BAN_BODY, []
        if form.get("username") == self.username and form.get("password") == self.password:
            self._fail_count = 0
            return 204, "", [self._cookie_header(self._new_session())]
        self._fail_count += 1
        if self.max_fail and self._fail_count >= self.max_fail:
            self._banned_until = time.monotonic() + self.ban_seconds
            self._fail_count = 0
        return 401, "Unauthorized", []

    def _take_fault(self, endpoint: str) -> Optional[_Fault]:
        fault = self._faults.get(endpoint)
        if fault is None:
            return None
        if fault.times is not None:
            fault.times -= 1
            if fault.times <= 0:
                del self._faults[endpoint]
        return fault

    def _endpoint(self, method: str, endpoint: str, form: Dict[str, str]) -> Tuple[int, str]:
        if endpoint in WRITE_ENDPOINTS and method != "POST":
            return 405, "Method Not Allowed"
        if endpoint == "app/version":
            return 200, self.version
        if endpoint == "app/webapiVersion":
            return 200, self.webapi_version
        if endpoint == "transfer/uploadLimit":
            return 200, str(self.upload_limit)
        if endpoint == "transfer/downloadLimit":
            return 200, str(self.download_limit)
        if endpoint in ("transfer/setUploadLimit", "transfer/setDownloadLimit"):
            if "limit" not in form:
                return 400, "Bad Request"
            try:
                value = int(form["limit"])
            except ValueError:
                value = 0  # garbage silently becomes unlimited, as in the real thing
            if endpoint == "transfer/setUploadLimit":
                self.upload_limit = stored_upload_limit(value)
            else:
                self.download_limit = stored_upload_limit(value)  # kept the same way
            return 200, ""
        return 404, "Not Found"


def _parse_cookie_header(value: str) -> Dict[str, str]:
    out: Dict[str, str] = {}
    for part in value.split(";"):
        name, sep, val = part.strip().partition("=")
        if sep and name:
            out[name] = val
    return out


def _handler_class(fake: FakeQBittorrent) -> Callable[..., BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, like qBittorrent
        # one write per answer and no Nagle: otherwise delayed ACKs add ~40 ms to every request
        wbufsize = 64 * 1024
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            self._serve("GET")

        def do_POST(self) -> None:
            self._serve("POST")

        def _serve(self, method: str) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length).decode("utf-8", errors="replace") if length else ""
            form = {k: v[-1] for k, v in parse_qs(raw, keep_blank_values=True).items()}
            if method == "GET":
                form.update({k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()})
            headers = {k.lower(): v for k, v in self.headers.items()}
            if fake.response_delay:
                time.sleep(fake.response_delay)
            if not parts.path.startswith(_API):
                status, body, cookies = 404, "Not Found", []
            else:
                status, body, cookies = fake.handle(method, parts.path[len(_API):], headers, form)
            data = body.encode("utf-8")
            self.send_response(status)
            if data or status != 204:
                self.send_header("Content-Type", "text/plain; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
            for cookie in cookies:
                self.send_header("Set-Cookie", cookie)
            self.end_headers()
            if data:
                self.wfile.write(data)

    return Handler
