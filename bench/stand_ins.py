"""The Plex test server with arrival timestamps, and qBittorrent (the real qbittorrent-nox when it is
installed, else the fake) behind a counting proxy: what the sections poll."""
from __future__ import annotations

from bench.common import PLEX_TOKEN, QBT_PASS, QBT_USER
from bench.counting_proxy import CountingProxy


def make_plex_server(plex_server_module):
    """The test Plex server, plus an arrival timestamp and payload generation per sessions request."""
    import threading
    import time

    base = plex_server_module.PlexTestServer

    class TimedPlexServer(base):  # type: ignore[misc, valid-type]
        def __init__(self, *a, **k):
            self.generation = 0
            self.arrivals = []  # (monotonic time, generation) of every /status/sessions request
            self._tlock = threading.Lock()
            super().__init__(*a, **k)

        def set_sessions(self, items):
            super().set_sessions(items)
            with self._tlock:
                self.generation += 1
                self.rotation = None

        def set_rotation(self, bodies):
            """Answer /status/sessions with these JSON bodies in turn, one per request, as a real
            server's answers change from poll to poll (viewOffset, transcode progress): a client
            that skipped unchanged answers must not look faster here than it is."""
            with self._tlock:
                self.rotation = [bytes(b) for b in bodies]
                self.rotation_index = 0

        def _handle(self, h):
            if h.path.split("?", 1)[0] == plex_server_module.SESSIONS_PATH:
                with self._tlock:
                    self.arrivals.append((time.monotonic(), self.generation))
                    if len(self.arrivals) > 100000:
                        del self.arrivals[:50000]
                    rotation = getattr(self, "rotation", None)
                    if rotation:
                        body = rotation[self.rotation_index % len(rotation)]
                        self.rotation_index += 1
                        with self._lock:
                            self._response = (200, "application/json", body)
            return super()._handle(h)

    return TimedPlexServer(token=PLEX_TOKEN)


class QBittorrent:
    """The real qbittorrent-nox if installed (and not refused), else the fake; behind the proxy."""

    def __init__(self, want: str, fake_module, nox_module, tmp: str) -> None:
        import shutil
        from pathlib import Path

        self.kind = ""
        self.note = ""
        self._nox = None
        self._fake = None
        if want in ("auto", "nox") and shutil.which(nox_module.BINARY):
            try:
                root = Path(tmp) / "qbt"
                root.mkdir()
                opts = nox_module.QbtOptions(username=QBT_USER, password=QBT_PASS, max_fail=0)
                self._nox = nox_module.QbtInstance(root, opts).start()
                self.kind = "qbittorrent-nox (real)"
                port = self._nox.port
            except Exception as exc:  # noqa: BLE001 - reported, then the fake is used
                self.note = "qbittorrent-nox failed to start (%s); " % str(exc).splitlines()[0]
                self._nox = None
        elif want == "nox":
            raise SystemExit("--qbt nox: qbittorrent-nox is not installed")
        if self._nox is None:
            self._fake = fake_module.FakeQBittorrent(username=QBT_USER, password=QBT_PASS, max_fail=0).start()
            self.kind = "FakeQBittorrent (tests/support)"
            if want != "fake":
                self.note += "qbittorrent-nox is not installed or failed: using the fake qBittorrent"
            port = self._fake.port
        self.proxy = CountingProxy(port)
        self.url = self.proxy.url
        self.version = self._version()

    def _request(self, method: str, endpoint: str, body: str = ""):
        import http.client

        conn = http.client.HTTPConnection("127.0.0.1", self.proxy.upstream_port, timeout=10)
        try:
            headers = {"Content-Type": "application/x-www-form-urlencoded"} if method == "POST" else {}
            if getattr(self, "_sid", None):
                headers["Cookie"] = self._sid
            conn.request(method, "/api/v2/" + endpoint, body=body or None, headers=headers)
            resp = conn.getresponse()
            data = resp.read().decode("utf-8", "replace")
            for k, v in resp.getheaders():
                if k.lower() == "set-cookie":
                    self._sid = v.split(";", 1)[0]
            return resp.status, data
        finally:
            conn.close()

    def _version(self) -> str:
        from urllib.parse import urlencode

        self._request("POST", "auth/login", urlencode({"username": QBT_USER, "password": QBT_PASS}))
        status, body = self._request("GET", "app/version")
        return body.strip() if status == 200 else "?"

    def upload_limit(self) -> int:
        """Read directly (not through the proxy, so it is never counted)."""
        status, body = self._request("GET", "transfer/uploadLimit")
        return int(body.strip()) if status == 200 else -1

    def set_upload_limit(self, value: int) -> None:
        self._request("POST", "transfer/setUploadLimit", "limit=%d" % value)

    def stop(self) -> None:
        self.proxy.stop()
        if self._nox is not None:
            self._nox.stop()
        if self._fake is not None:
            self._fake.stop()
