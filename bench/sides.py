"""The servers and clients beyond the Plex stand-in and qBittorrent, started once and shared by the
sections that need them (many, kinds, clients, history):

* Jellyfin and Emby: the stand-ins of tests/support/jellyfin_server.py (HTTP + the push WebSocket),
  each timestamping every request it serves; sessions from tests/support/jellyfin_payloads.py.
* Transmission and Deluge: the real transmission-daemon and deluged + deluge-web, started by the
  project's fixtures' classes (tests/support/transmission_daemon.py, deluge_daemon.py) on 127.0.0.1,
  each behind a CountingProxy that reads the JSON-RPC method of every request, so reads, writes,
  logins and session handshakes are counted per client on the wire.
"""
from __future__ import annotations

import json
import os
import tempfile

from bench.common import PLEX_TOKEN, QBT_PASS, QBT_USER, STREAMING_KBPS, import_support, session_mix
from bench.counting_proxy import (
    CountingProxy,
    deluge_category,
    deluge_label,
    transmission_category,
    transmission_label,
)


def _timed_jellyfin_class(jellyfin_server):
    import threading
    import time

    class TimedJellyfin(jellyfin_server.JellyfinTestServer):  # type: ignore[misc, valid-type]
        """The stand-in, plus (monotonic time, path) of every request it serves."""

        def __init__(self, *a, **k):
            self.arrivals = []
            self._alock = threading.Lock()
            super().__init__(*a, **k)

        def _handle(self, h):
            with self._alock:
                self.arrivals.append((time.monotonic(), h.path.split("?", 1)[0]))
                if len(self.arrivals) > 200000:
                    del self.arrivals[:100000]
            return super()._handle(h)

        def mark(self) -> int:
            with self._alock:
                return len(self.arrivals)

        def since(self, mark: int):
            with self._alock:
                return list(self.arrivals[mark:])

    return TimedJellyfin


class Sides:
    """Jellyfin/Emby stand-ins, transmission-daemon and deluged + deluge-web (behind counting
    proxies), started on first use; `stop()` ends them all."""

    def __init__(self, bench) -> None:
        self.b = bench
        self._servers = {}
        self._clients = {}
        self.notes = []

    def _support(self):
        import_support()  # tests/support without pytest installed: a stub for its fixtures
        from tests.support import deluge_daemon, jellyfin_payloads, jellyfin_server, transmission_daemon

        return jellyfin_server, jellyfin_payloads, transmission_daemon, deluge_daemon

    @property
    def payloads(self):
        return self._support()[1]

    def server(self, name: str, kind: str = "jellyfin"):
        """A Jellyfin (or Emby) stand-in, by name."""
        if name not in self._servers:
            jellyfin_server = self._support()[0]
            from adapters.media.jellyfin.source import KINDS

            server = _timed_jellyfin_class(jellyfin_server)(KINDS[kind])
            server.__enter__()
            self._servers[name] = server
        return self._servers[name]

    def transmission(self):
        if "transmission" not in self._clients:
            import shutil
            from pathlib import Path

            transmission_daemon = self._support()[2]
            if shutil.which(transmission_daemon.BINARY) is None:
                raise RuntimeError("transmission-daemon is not installed")
            root = Path(self.b.tmp) / "transmission"
            root.mkdir()
            daemon = transmission_daemon.TransmissionDaemon(root).start()
            try:
                proxy = CountingProxy(daemon.port, label=transmission_label, category=transmission_category,
                                      is_limit_set=lambda label: label == "rpc session-set")
            except BaseException:
                daemon.stop()
                raise
            self._clients["transmission"] = (daemon, proxy)
            self.b.log("Transmission: transmission-daemon on 127.0.0.1:%d behind a counting proxy" % daemon.port)
        return self._clients["transmission"]

    def deluge(self):
        if "deluge" not in self._clients:
            import shutil
            from pathlib import Path

            deluge_daemon = self._support()[3]
            if shutil.which(deluge_daemon.DAEMON) is None or shutil.which(deluge_daemon.WEB) is None:
                raise RuntimeError("deluged or deluge-web is not installed")
            root = Path(self.b.tmp) / "deluge"
            root.mkdir()
            instance = deluge_daemon.DelugeInstance(root).start()
            try:
                proxy = CountingProxy(instance.web_port, label=deluge_label, category=deluge_category,
                                      is_limit_set=lambda label: label == "json core.set_config")
            except BaseException:
                instance.stop()
                raise
            self._clients["deluge"] = (instance, proxy)
            self.b.log("Deluge: deluged + deluge-web (web UI on 127.0.0.1:%d) behind a counting proxy" % instance.web_port)
        return self._clients["deluge"]

    def stop(self) -> None:
        for server in self._servers.values():
            try:
                server.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - stopping the rest matters more
                pass
        for daemon, proxy in self._clients.values():
            for end in (proxy.stop, daemon.stop):
                try:
                    end()
                except Exception:  # noqa: BLE001
                    pass
        self._servers.clear()
        self._clients.clear()

    # ------------------------------------------------------------------ config entries
    def plex_entry(self, events: bool = False):
        return {"name": "plex", "type": "plex", "url": self.b.plex.url, "token": PLEX_TOKEN, "events": events}

    def server_entry(self, name: str, kind: str = "jellyfin", events: bool = False):
        server = self.server(name, kind)
        return {"name": name, "type": kind, "url": server.url, "api_key": server.api_key, "events": events}

    def qbt_entry(self, weight: int = 2):
        return {"name": "qbittorrent", "type": "qbittorrent", "url": self.b.qbt.url, "username": QBT_USER,
                "password": QBT_PASS, "weight": weight}

    def transmission_entry(self, weight: int = 1):
        _, proxy = self.transmission()
        return {"name": "transmission", "type": "transmission", "url": proxy.url, "weight": weight}

    def deluge_entry(self, weight: int = 1):
        instance, proxy = self.deluge()
        return {"name": "deluge", "type": "deluge", "url": proxy.url, "password": instance.password, "weight": weight}

    def three_by_three(self):
        """Plex + two Jellyfins; qBittorrent + Transmission + Deluge by weight 2:1:1."""
        return ([self.plex_entry(), self.server_entry("jellyfin"), self.server_entry("jellyfin2")],
                [self.qbt_entry(), self.transmission_entry(), self.deluge_entry()])

    def set_sessions(self, n: int, names=("jellyfin", "jellyfin2", "emby")) -> None:
        """n sessions on Plex (bench.common.session_mix: 60 % remote) and on every named stand-in
        (jellyfin_payloads.many_sessions: direct play, transcoding, paused, idle, LAN, IPv6; fresh
        check-in times, so none is stale)."""
        import time

        self.b.plex.set_sessions(session_mix(self.b.payloads, n))
        for name in names:
            if name in self._servers:
                self._servers[name].set_sessions(self.payloads.many_sessions(n, now=time.time()) if n else [])

    def client_proxies(self):
        """{client name: its counting proxy} of every client started so far."""
        out = {"qbittorrent": self.b.qbt.proxy}
        out.update({name: proxy for name, (_, proxy) in self._clients.items()})
        return out


def write_list_config(bench, servers, clients, **fields) -> str:
    """A daemon config (mode 600) with `media_servers` / `download_clients` lists and its own state_dir."""
    state_dir = tempfile.mkdtemp(prefix="state-", dir=bench.tmp)
    cfg = {"media_servers": servers, "download_clients": clients, "poll_interval_sec": 1,
           "streaming_upload_kbps": STREAMING_KBPS, "idle_upload_kbps": 0, "state_dir": state_dir,
           "streaming_threshold": 2, "idle_threshold": 3, "reconcile_interval_sec": 60}
    cfg.update(fields)
    cfg = {k: v for k, v in cfg.items() if v is not None}
    fd, path = tempfile.mkstemp(prefix="bench-cfg-", suffix=".json", dir=bench.tmp)
    with os.fdopen(fd, "w") as f:
        json.dump(cfg, f)
    os.chmod(path, 0o600)
    return path
