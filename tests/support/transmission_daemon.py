"""pytest plugin: throwaway, real transmission-daemon instances on 127.0.0.1 for integration tests.

Each instance gets its own config directory under a pytest temp dir (settings.json written before the
first start: RPC, peer port and every network feature on loopback or off), runs in its own session
with a cleared environment, and is always stopped at teardown (SIGTERM, then SIGKILL). Tests using it
are skipped when transmission-daemon is not installed.

Fixtures:
    transmission_factory         function-scoped factory: transmission_factory(username=..., password=...)
    transmission_session         session-scoped factory (same arguments), for instances tests share
    transmission                 session-scoped instance without a login
    transmission_auth            session-scoped instance with user `plex-helper`, password TR_PASSWORD
"""
from __future__ import annotations

import base64
import http.client
import json
import shutil
import signal
from pathlib import Path
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Tuple

import pytest

from tests.support.daemon_process import DaemonProcess, base_env, http_answers
from tests.support.ports import free_port

BINARY = "transmission-daemon"
SKIP_REASON = "transmission-daemon is not installed"
START_TIMEOUT_SEC = 20.0
STOP_TIMEOUT_SEC = 15.0
TR_USER = "plex-helper"
TR_PASSWORD = "tr-test-pass-5x!"


class TransmissionDaemon:
    """One transmission-daemon: `.url` (base URL), `.rpc_url`, `.port`, `.pid`, `.username`,
    `.password`; `.restart()` keeps port and config (settings survive, the session id does not)."""

    def __init__(self, root: Path, username: str = "", password: str = "", allowed: str = "127.0.0.1") -> None:
        self.root = root
        self.config_dir = root / "config"
        self.output = root / "transmission.log"
        self.username = username
        self.password = password
        self.allowed = allowed
        self.port = 0
        self.peer_port = 0
        self._process: Optional[DaemonProcess] = None

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def rpc_url(self) -> str:
        return self.url + "/transmission/rpc"

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process is not None else None

    def start(self) -> "TransmissionDaemon":
        for sub in ("home", "tmp", "downloads", "incomplete"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        last_error = ""
        for _ in range(3):  # a port taken between choosing it and binding it: choose others
            self.port = free_port()
            self.peer_port = free_port({self.port})
            self._write_settings()
            try:
                self._launch()
                return self
            except RuntimeError as exc:
                last_error = str(exc)
        raise RuntimeError(last_error)

    def _write_settings(self) -> None:
        """Keys that keep the daemon on 127.0.0.1 and off the network; merged into what it wrote."""
        path = self.config_dir / "settings.json"
        settings: Dict[str, object] = json.loads(path.read_text()) if path.exists() else {}
        settings.update(
            {
                "bind-address-ipv4": "127.0.0.1",
                "bind-address-ipv6": "::1",
                "rpc-bind-address": "127.0.0.1",
                "dht-enabled": False,
                "lpd-enabled": False,
                "pex-enabled": False,
                "utp-enabled": False,
                "port-forwarding-enabled": False,
                "peer-port-random-on-start": False,
                "blocklist-enabled": False,
                "download-dir": str(self.root / "downloads"),
                "incomplete-dir": str(self.root / "incomplete"),
                "watch-dir-enabled": False,
            }
        )
        path.write_text(json.dumps(settings, indent=4))

    def _args(self) -> List[str]:
        args = [
            shutil.which(BINARY) or BINARY, "-f", "-g", str(self.config_dir), "-p", str(self.port),
            "-r", "127.0.0.1", "--allowed", self.allowed, "-P", str(self.peer_port), "--no-dht", "--no-portmap",
            "--no-watch-dir",
        ]
        if self.username or self.password:
            args += ["-t", "-u", self.username, "-v", self.password]
        else:
            args += ["-T"]
        return args

    def _launch(self) -> None:
        env = base_env(self.root / "home", self.root / "tmp")
        self._process = DaemonProcess(BINARY, self._args(), env, self.root, self.output, STOP_TIMEOUT_SEC)
        # ready when the RPC answers anything (409 without a session id)
        ready = lambda: http_answers(self.port, "POST", "/transmission/rpc", b"{}")  # noqa: E731
        self._process.start(ready, START_TIMEOUT_SEC, failure_signal=signal.SIGKILL)

    def stop(self) -> None:
        """Clean exit: Transmission writes settings.json."""
        if self._process is not None:
            self._process.stop()

    def restart(self) -> "TransmissionDaemon":
        """Same port, config and credentials; a new session id."""
        self.stop()
        self._write_settings()
        self._launch()
        return self

    def rpc(self, method: str, arguments: Optional[dict] = None) -> dict:
        """A raw RPC call with the 409 exchange, for tests that check what the daemon holds."""
        headers = {"Content-Type": "application/json"}
        if self.username or self.password:
            token = base64.b64encode(("%s:%s" % (self.username, self.password)).encode()).decode()
            headers["Authorization"] = "Basic " + token
        body = json.dumps({"method": method, "arguments": arguments or {}}).encode()
        for _ in range(2):
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
            try:
                conn.request("POST", "/transmission/rpc", body=body, headers=headers)
                response = conn.getresponse()
                data = response.read()
            finally:
                conn.close()
            if response.status == 409:
                headers["X-Transmission-Session-Id"] = response.getheader("X-Transmission-Session-Id", "")
                continue
            return {"status": response.status, "body": data, "json": _json_or_none(data)}
        raise RuntimeError("transmission-daemon kept answering 409")

    def log_text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace") if self.output.exists() else ""


def _json_or_none(data: bytes) -> Optional[dict]:
    try:
        value = json.loads(data)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


# ---------------------------------------------------------------------------------------- a stand-in

Reply = Tuple[int, Mapping[str, str], bytes]


class ScriptedServer:
    """A plain HTTP stand-in on 127.0.0.1 for answers a real daemon will not give (garbage JSON, a
    proxy's 403, ...): `respond(method, path, headers, body) -> (status, headers, body)` is called
    for every request; `.requests` keeps (method, path, headers, body). Use it as a context manager."""

    def __init__(self, respond: Callable[[str, str, Mapping[str, str], bytes], Reply]) -> None:
        self.respond = respond
        self.requests: List[Tuple[str, str, Dict[str, str], bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k: v for k, v in self.headers.items()}
                outer.requests.append((self.command, self.path, headers, body))
                status, reply_headers, reply = outer.respond(self.command, self.path, headers, body)
                self.send_response(status)
                for name, value in reply_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_GET = do_POST = _handle

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)


def _factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., TransmissionDaemon]]:
    if shutil.which(BINARY) is None:
        pytest.skip(SKIP_REASON)
    instances: List[TransmissionDaemon] = []

    def make(username: str = "", password: str = "", allowed: str = "127.0.0.1") -> TransmissionDaemon:
        root = tmp_path_factory.mktemp("transmission")
        instance = TransmissionDaemon(root, username, password, allowed)
        instances.append(instance)
        return instance.start()

    try:
        yield make
    finally:
        for instance in instances:
            instance.stop()
            shutil.rmtree(instance.root, ignore_errors=True)


@pytest.fixture
def transmission_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., TransmissionDaemon]]:
    """Fresh instances, stopped and removed at the end of the test."""
    yield from _factory(tmp_path_factory)


@pytest.fixture(scope="session")
def transmission_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., TransmissionDaemon]]:
    """Instances shared by the whole run, stopped and removed at its end."""
    yield from _factory(tmp_path_factory)


@pytest.fixture(scope="session")
def transmission(transmission_session: Callable[..., TransmissionDaemon]) -> TransmissionDaemon:
    """One instance without a login."""
    return transmission_session()


@pytest.fixture(scope="session")
def transmission_auth(transmission_session: Callable[..., TransmissionDaemon]) -> TransmissionDaemon:
    """One instance that requires user TR_USER with password TR_PASSWORD."""
    return transmission_session(TR_USER, TR_PASSWORD)

