"""Helpers for the fault, secret and soak tests: a daemon subprocess whose log can be watched live,
a Plex test server that can go down and come back on the same port, a tiny client for the real
qbittorrent-nox (to change its limit behind plex-helper's back) and its own log of failed logins."""
from __future__ import annotations

import http.client
import re
import signal
import subprocess
import threading
import time
import urllib.parse
from typing import Callable, List, Optional, Sequence, Tuple

from tests.application.daemon import start, wait_until
from tests.support.plex_server import PlexTestServer, _QuietServer
from tests.support.qbittorrent_nox import QbtInstance

KIB = 1024
LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:[+-]\d{4})? (DEBUG|INFO|WARNING|ERROR|CRITICAL) (.*)$")


class Daemon:
    """`python -m application ARGS` with stderr read line by line in the background."""

    def __init__(self, *args: str, **env: str) -> None:
        self.process: subprocess.Popen = start(*args, **env)
        self._lines: List[str] = []
        self._stdout: List[str] = []
        self._lock = threading.Lock()
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stderr, self._lines), daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stdout, self._stdout), daemon=True),
        ]
        for reader in self._readers:
            reader.start()
        self.signalled_at: Optional[float] = None
        self.exited_after: Optional[float] = None

    def _pump(self, stream, sink: List[str]) -> None:
        for line in stream:
            with self._lock:
                sink.append(line.rstrip("\n"))

    @property
    def lines(self) -> List[str]:
        with self._lock:
            return list(self._lines)

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)

    @property
    def stdout(self) -> str:
        with self._lock:
            return "\n".join(self._stdout)

    def records(self, level: Optional[str] = None) -> List[Tuple[str, str]]:
        """(level, message) of each log line, optionally only one level."""
        out = []
        for line in self.lines:
            match = LOG_LINE.match(line)
            if match and (level is None or match.group(1) == level):
                out.append((match.group(1), match.group(2)))
        return out

    def messages(self, level: str, containing: str = "") -> List[str]:
        return [m for lvl, m in self.records(level) if containing in m]

    def wait_for(self, text: str, timeout: float = 10.0, count: int = 1) -> bool:
        return wait_until(lambda: sum(text in line for line in self.lines) >= count, timeout)

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send sig, wait for the exit; returns the exit status and records how long it took."""
        if self.process.poll() is None:
            self.signalled_at = time.monotonic()
            self.process.send_signal(sig)
        try:
            self.process.wait(timeout=timeout)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
        if self.signalled_at is not None:
            self.exited_after = time.monotonic() - self.signalled_at
        for reader in self._readers:
            reader.join(timeout=5)
        return self.process.returncode

    def __enter__(self) -> "Daemon":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RestartablePlex(PlexTestServer):
    """A PlexTestServer that keeps its port across stop() / start(): Plex going away and coming back."""

    _fixed_port = 0

    def start(self) -> "RestartablePlex":
        if self._httpd is not None:
            return self
        handler = type("PlexHandler", (type(self)._handler_base(),), {"plex": self})
        self._stopping.clear()
        self._httpd = _QuietServer(("127.0.0.1", self._fixed_port), handler)
        self._fixed_port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="plex-test-server", daemon=True)
        self._thread.start()
        return self

    @staticmethod
    def _handler_base():
        from tests.support.plex_server import _Handler

        return _Handler

    @property
    def url(self) -> str:  # valid while stopped too
        return "http://127.0.0.1:%d" % self._fixed_port


class QbtWebClient:
    """The test's own session on a real qbittorrent-nox, e.g. to change the limit behind our back."""

    def __init__(self, instance: QbtInstance, password: Optional[str] = None) -> None:
        self.instance = instance
        self.password = instance.password if password is None else password
        self.cookie = ""

    def _call(self, method: str, endpoint: str, form: Optional[dict] = None) -> Tuple[int, str, http.client.HTTPResponse]:
        conn = http.client.HTTPConnection("127.0.0.1", self.instance.port, timeout=5)
        try:
            body = urllib.parse.urlencode(form) if form is not None else None
            headers = {"Referer": self.instance.url + "/"}
            if body is not None:
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            if self.cookie:
                headers["Cookie"] = self.cookie
            conn.request(method, "/api/v2/" + endpoint, body=body, headers=headers)
            response = conn.getresponse()
            text = response.read().decode("utf-8", "replace")
            return response.status, text, response
        finally:
            conn.close()

    def login(self) -> Tuple[int, str]:
        status, text, response = self._call("POST", "auth/login", {"username": self.instance.username,
                                                                   "password": self.password})
        for header in response.headers.get_all("Set-Cookie") or []:
            self.cookie = header.split(";", 1)[0]
        return status, text

    def _authed(self, method: str, endpoint: str, form: Optional[dict] = None) -> str:
        if not self.cookie:
            self.login()
        status, text, _ = self._call(method, endpoint, form)
        if status == 403:  # the session expired or qBittorrent restarted
            self.login()
            status, text, _ = self._call(method, endpoint, form)
        assert status == 200, (status, text)
        return text

    def upload_limit(self) -> int:
        return int(self._authed("GET", "transfer/uploadLimit"))

    def set_upload_limit(self, bytes_per_sec: int) -> None:
        self._authed("POST", "transfer/setUploadLimit", {"limit": str(bytes_per_sec)})


def qbt_log(instance: QbtInstance) -> str:
    """qbittorrent-nox's own log (it records every failed Web UI login)."""
    path = instance.profile / "qBittorrent" / "data" / "logs" / "qbittorrent.log"
    return path.read_text(encoding="utf-8", errors="replace") if path.exists() else ""


def failed_logins(instance: QbtInstance, reason: str = "") -> List[str]:
    """The 'WebAPI login failure' lines of qbittorrent-nox's log (reason e.g. 'invalid credentials')."""
    return [line for line in qbt_log(instance).splitlines() if "WebAPI login failure" in line and reason in line]


def wait_for_count(read: Callable[[], int], at_least: int, timeout: float = 10.0) -> bool:
    return wait_until(lambda: read() >= at_least, timeout)


def none_of(secrets: Sequence[str], *texts: str) -> List[str]:
    """The secrets that occur in any of the texts (also URL-encoded): [] when none leaks."""
    leaked = []
    for secret in secrets:
        forms = {secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}
        if any(form in text for form in forms for text in texts):
            leaked.append(secret)
    return leaked


def sigcont(pid: Optional[int]) -> None:
    import os

    if pid is not None:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass
