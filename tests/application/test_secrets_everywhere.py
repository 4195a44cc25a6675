"""The secrets matrix for every media server and download client.

One config with the lists: a Plex stand-in, a Jellyfin stand-in and an Emby stand-in (push channels
on) as media servers; qBittorrent (the 5.2 fake), Transmission (real, with a login), Deluge (real),
SABnzbd (stand-in) and NZBGet (real) as download clients, with a download budget. Every secret is
distinctive ("S3cret-<kind>-<random>+/!", so its URL-encoded form differs too) and is given in the
file, in `<field>_file` files and in PLEX_HELPER_<NAME>__<FIELD> variables, in separate runs.

The daemon runs at DEBUG through success, streams starting and stopping (on every server's push
channel), wrong credentials on every side (401 / 403 / REJECTED), session ids renewed (qBittorrent's
SID, Transmission's X-Transmission-Session-Id after a daemon restart, Deluge's _session_id after its
session is ended and the web UI restarts), stand-ins going down, SIGHUP to wrong secrets, to the right ones and to a bad
config, and SIGTERM; `--check` and `--once` run with the right and the wrong secrets; broken configs
hold secrets in the wrong places. No secret, wrong secret, Basic-auth token, session id or cookie the
daemon used (captured from its traffic by recording proxies in front of Transmission and Deluge)
appears in any stdout or stderr, and the expected log lines show the paths really ran. In process:
the repr() of Settings and of every object the container builds holds no secret.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import os
import secrets as random_secrets
import signal
import socket
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Set, Tuple

import pytest

from adapters.clients.deluge.client import DelugeClient
from adapters.media.jellyfin.source import EMBY, JELLYFIN
from adapters.clients.nzbget import NzbgetClient
from adapters.clients.transmission.client import TransmissionClient
from domain.policies import SpeedLimit
from domain.ports import PortError
from tests.application.daemon import run, wait_until
from tests.application.fault_support import Daemon, RestartablePlex
from tests.support import deluge_daemon as deluge_support
from tests.support.deluge_daemon import DelugeInstance
from tests.support.fake_qbittorrent import FakeQBittorrent
from tests.support.jellyfin_payloads import direct_play_remote
from tests.support.jellyfin_server import StoppableJellyfin
from tests.support.plex_payloads import remote_movie
from tests.support.sabnzbd_server import SabnzbdStandIn, _QuietServer as _SabServer
from tests.support.transmission_daemon import BINARY as TRANSMISSION_BINARY
from tests.support.transmission_daemon import TR_USER, TransmissionDaemon

QBT_USER, NZB_USER = "admin", "nzbget"
_RUN = random_secrets.token_hex(4)


def _secret(kind: str) -> str:
    # "+/!" so that the URL-encoded form differs; header values (tokens, API keys) keep to printable
    # ASCII without quotes or backslashes, as the config requires
    return "S3cret-%s-%s-%s+/!" % (kind, _RUN, random_secrets.token_hex(4))


# (entry name, the secret field) -> value
SECRETS: Dict[Tuple[str, str], str] = {
    ("plex", "token"): _secret("plex"),
    ("jf", "api_key"): _secret("jellyfin"),
    ("emby", "api_key"): _secret("emby"),
    ("qbt", "password"): _secret("qbittorrent"),
    ("tr", "password"): _secret("transmission"),
    ("dl", "password"): _secret("deluge"),
    ("sab", "api_key"): _secret("sabnzbd"),
    ("nzb", "password"): _secret("nzbget"),
}
WRONG: Dict[Tuple[str, str], str] = {key: "Wr0ng-" + value for key, value in SECRETS.items()}
USERS = {"qbt": QBT_USER, "tr": TR_USER, "nzb": NZB_USER}


def _basic(user: str, password: str) -> str:
    return base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def all_secret_forms() -> List[str]:
    """Every secret and wrong secret, and the Basic-auth tokens built from them (the header value
    is the password in all but name)."""
    values = list(SECRETS.values()) + list(WRONG.values())
    for table in (SECRETS, WRONG):
        for name in ("tr", "nzb", "qbt"):
            values.append(_basic(USERS[name], table[(name, "password")]))
    return values


def leaks(values: Sequence[str], *texts: str) -> List[str]:
    """The values that occur in any text, as they are or URL-encoded (quote, quote_plus)."""
    found = []
    for value in values:
        forms = {value, urllib.parse.quote(value, safe=""), urllib.parse.quote_plus(value),
                 urllib.parse.quote(value)}
        if any(form in text for form in forms for text in texts):
            found.append(value)
    return found


# ------------------------------------------------------------------------------ stand-ins and proxies


class DelugeWithSecret(DelugeInstance):
    """The real Deluge fixture, with a web UI password of our own instead of the fixed one."""

    def __init__(self, root: Path, password: str) -> None:
        super().__init__(root)
        self.password = password

    def _write_configs(self) -> None:
        super()._write_configs()
        path = self.config_dir / "web.conf"
        decoder = json.JSONDecoder()
        text = path.read_text()
        header, end = decoder.raw_decode(text)
        web, _ = decoder.raw_decode(text[end:].lstrip())
        web["pwd_sha1"] = hashlib.sha1((web["pwd_salt"] + self.password).encode("utf-8")).hexdigest()
        path.write_text(json.dumps(header) + json.dumps(web, indent=4))


class RecordingProxy:
    """A plain HTTP reverse proxy on 127.0.0.1 in front of a real daemon, keeping the headers of every
    exchange: how the test sees the session ids and cookies the daemon under test was given and sent."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.exchanges: List[Tuple[Dict[str, str], List[Tuple[str, str]]]] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("host", "connection", "keep-alive", "content-length")}
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=10)
                    conn.request(self.command, self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                    reply = response.getheaders()
                    status = response.status
                    conn.close()
                except (OSError, http.client.HTTPException):
                    status, reply, data = 502, [("Content-Type", "text/plain")], b"bad gateway"
                with proxy._lock:
                    proxy.exchanges.append((dict(self.headers.items()), list(reply)))
                self.send_response(status)
                for name, value in reply:
                    if name.lower() not in ("transfer-encoding", "connection", "content-length", "keep-alive",
                                            "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = _forward

            def log_message(self, *_: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)

    def __enter__(self) -> "RecordingProxy":
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def header_values(self, name: str) -> Set[str]:
        """Values of `name` in the answers (e.g. X-Transmission-Session-Id) and the requests."""
        with self._lock:
            exchanges = list(self.exchanges)
        found = set()
        for request, reply in exchanges:
            for key, value in list(request.items()) + reply:
                if key.lower() == name.lower() and value:
                    found.add(value)
        return found

    def cookies(self, cookie: str) -> Set[str]:
        """Values of the cookie named `cookie`, set by the answers or sent by the requests."""
        found = set()
        for header in self.header_values("Set-Cookie") | self.header_values("Cookie"):
            for part in header.split(";"):
                name, sep, value = part.strip().partition("=")
                if sep and name == cookie and value:
                    found.add(value)
        return found


class RestartableSab(SabnzbdStandIn):
    """The SABnzbd stand-in, able to go down (open keep-alive connections cut too) and come back on
    the same port."""

    def _handler_class(self) -> type:
        base, connections = super()._handler_class(), self._connections()

        class Tracked(base):  # type: ignore[misc,valid-type]
            def setup(self) -> None:
                super().setup()
                connections.add(self.connection)

        return Tracked

    def _connections(self) -> Set[socket.socket]:
        if not hasattr(self, "_open"):
            self._open: Set[socket.socket] = set()
        return self._open

    def go_down(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
        for conn in list(self._connections()):
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def come_up(self) -> None:
        port = self._server.server_address[1]
        self._server = _SabServer(("127.0.0.1", port), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __exit__(self, *_: object) -> None:
        self.go_down()


# ------------------------------------------------------------------------------ the real daemons


class RealClients:
    def __init__(self, transmission: TransmissionDaemon, deluge: DelugeWithSecret, nzbget: Any) -> None:
        self.transmission, self.deluge, self.nzbget = transmission, deluge, nzbget
        self.tr_ids: Set[str] = set()  # every X-Transmission-Session-Id the test saw the daemon hand out
        self.note_transmission_session()

    def note_transmission_session(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.transmission.port, timeout=5)
        try:
            conn.request("POST", "/transmission/rpc", body=b"{}",
                         headers={"Authorization": "Basic " + _basic(TR_USER, self.transmission.password)})
            response = conn.getresponse()
            response.read()
            value = response.getheader("X-Transmission-Session-Id")
        finally:
            conn.close()
        if value:
            self.tr_ids.add(value)

    def adapters(self) -> Dict[str, Any]:
        """The project's own adapters as a second, independent session, to read and reset limits."""
        return {
            "tr": TransmissionClient(self.transmission.url, username=TR_USER, password=self.transmission.password,
                                     timeout_sec=5),
            "dl": DelugeClient(self.deluge.url, password=self.deluge.password, timeout_sec=5),
            "nzb": NzbgetClient(self.nzbget.url, username=NZB_USER, password=self.nzbget.password, timeout_sec=5),
        }


@pytest.fixture(scope="module")
def real_clients(tmp_path_factory, nzbget_factory) -> Iterator[RealClients]:
    import shutil

    if shutil.which(TRANSMISSION_BINARY) is None:
        pytest.skip("transmission-daemon is not installed")
    if shutil.which(deluge_support.DAEMON) is None or shutil.which(deluge_support.WEB) is None:
        pytest.skip(deluge_support.SKIP_REASON)
    nzbget = nzbget_factory(username=NZB_USER, password=SECRETS[("nzb", "password")])
    made: List[Any] = []

    def started(make: Any) -> Any:
        """Started, with one more try on fresh ports and a fresh directory (a port taken meanwhile)."""
        for attempt in range(2):
            instance = make()
            made.append(instance)
            try:
                return instance.start()
            except RuntimeError:
                instance.stop()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    try:
        transmission = started(lambda: TransmissionDaemon(tmp_path_factory.mktemp("tr-secret"), TR_USER,
                                                          SECRETS[("tr", "password")]))
        deluge = started(lambda: DelugeWithSecret(tmp_path_factory.mktemp("dl-secret"), SECRETS[("dl", "password")]))
        yield RealClients(transmission, deluge, nzbget)
    finally:
        for instance in reversed(made):
            instance.stop()
            shutil.rmtree(instance.root, ignore_errors=True)


class World:
    """The stand-ins of one test, the proxies in front of the real daemons, and readers of every
    client's limit (KiB/s, 0 = unlimited, None while it cannot be read)."""

    def __init__(self, real: RealClients) -> None:
        self.real = real
        self.plex = RestartablePlex(token=SECRETS[("plex", "token")])
        self.jf = StoppableJellyfin(JELLYFIN, api_key=SECRETS[("jf", "api_key")])
        self.emby = StoppableJellyfin(EMBY, api_key=SECRETS[("emby", "api_key")])
        self.qbt = FakeQBittorrent(username=QBT_USER, password=SECRETS[("qbt", "password")], max_fail=0)
        self.sab = RestartableSab(api_key=SECRETS[("sab", "api_key")], key_style="text403")
        self.tr_proxy = RecordingProxy(real.transmission.port)
        self.dl_proxy = RecordingProxy(real.deluge.web_port)
        self._adapters = real.adapters()

    def __enter__(self) -> "World":
        for part in (self.plex, self.jf, self.emby, self.qbt, self.sab, self.tr_proxy, self.dl_proxy):
            part.__enter__()
        self.reset_limits()
        return self

    def __exit__(self, *_: object) -> None:
        for part in (self.dl_proxy, self.tr_proxy, self.sab, self.qbt, self.emby, self.jf, self.plex):
            try:
                part.__exit__(None, None, None)
            except Exception:  # noqa: BLE001 - a part already down
                pass
        for adapter in self._adapters.values():
            adapter.close()

    def reset_limits(self) -> None:
        """Every client unlimited, as a new user's would be."""
        self._adapters["tr"].write_upload_limit(SpeedLimit(0))
        self._adapters["dl"].write_upload_limit(SpeedLimit(0))
        self._adapters["nzb"].write_download_limit(SpeedLimit(0))
        self.qbt.upload_limit = 0

    def limits(self) -> Dict[str, Optional[int]]:
        out: Dict[str, Optional[int]] = {"qbt": self.qbt.upload_limit // 1024, "sab": self.sab.bandwidth_limit // 1024}
        readers = {"tr": lambda a: a.read_upload_limit(), "dl": lambda a: a.read_upload_limit(),
                   "nzb": lambda a: a.read_download_limit()}
        for name, read in readers.items():
            try:
                out[name] = read(self._adapters[name]).kib_per_sec
            except PortError:
                out[name] = None
        return out

    def all_throttled(self) -> bool:
        return all(v is not None and v > 0 for v in self.limits().values())

    def all_unlimited(self) -> bool:
        return all(v == 0 for v in self.limits().values())

    # -- configs ---------------------------------------------------------------------------------
    def config(self, tmp_path: Path, how: str = "file", table: Optional[Dict[Tuple[str, str], str]] = None,
               name: str = "config.json", **overrides: Any) -> Tuple[str, Dict[str, str]]:
        """(config path, environment) with the secrets of `table` given `how`: "file" (in the
        config), "x_file" (each in a file of its own) or "env" (PLEX_HELPER_<NAME>__<FIELD>)."""
        table = SECRETS if table is None else table
        entries = {
            "plex": {"type": "plex", "url": self.plex.url, "events": True},
            "jf": {"type": "jellyfin", "url": self.jf.url, "events": True},
            "emby": {"type": "emby", "url": self.emby.url, "events": True},
            "qbt": {"type": "qbittorrent", "url": self.qbt.url, "username": QBT_USER},
            "tr": {"type": "transmission", "url": self.tr_proxy.url, "username": TR_USER},
            "dl": {"type": "deluge", "url": self.dl_proxy.url},
            "sab": {"type": "sabnzbd", "url": self.sab.url},
            "nzb": {"type": "nzbget", "url": self.real.nzbget.url, "username": NZB_USER},
        }
        env: Dict[str, str] = {}
        secret_dir = tmp_path / ("secrets-" + name)
        for (entry, field), value in table.items():
            if how == "file":
                entries[entry][field] = value
            elif how == "x_file":
                secret_dir.mkdir(exist_ok=True)
                path = secret_dir / ("%s-%s" % (entry, field))
                path.write_text(value + "\n")
                os.chmod(path, 0o600)
                entries[entry][field + "_file"] = str(path)
            else:
                env["PLEX_HELPER_%s__%s" % (entry.upper(), field.upper())] = value
        servers = [dict(name=n, **entries[n]) for n in ("plex", "jf", "emby")]
        clients = [dict(name=n, **entries[n]) for n in ("qbt", "tr", "dl", "sab", "nzb")]
        config: Dict[str, Any] = {
            "media_servers": servers,
            "download_clients": clients,
            "streaming_upload_kbps": 900,
            "streaming_download_kbps": 800,
            "poll_interval_sec": 1,
            "streaming_threshold": 1,
            "idle_threshold": 1,
            "reconcile_interval_sec": 1,
            "login_retry_sec": 1,
            "http_timeout_sec": 2,
            "plex_down_restore_after_sec": 3600,
            "state_dir": str(tmp_path / "state"),
        }
        config.update(overrides)
        path = tmp_path / name
        path.write_text(json.dumps(config))
        os.chmod(path, 0o600)
        return str(path), env


def jellyfin_stream(user: str) -> Dict[str, Any]:
    return direct_play_remote(now=time.time(), user=user)


# ------------------------------------------------------------------------------ the daemon matrix


def test_daemon_at_debug_through_every_path_never_shows_a_secret(tmp_path, real_clients):
    with World(real_clients) as world:
        path, _ = world.config(tmp_path, "file")
        with Daemon("--config", path, "--verbose") as daemon:
            # success: every side read, every push channel up
            assert world.plex.wait_for_sse_clients(1, timeout=10), daemon.stderr
            assert wait_until(lambda: world.jf.push_client_count() >= 1 and world.emby.push_client_count() >= 1,
                              timeout=10), daemon.stderr
            assert daemon.wait_for("DEBUG poll:", timeout=10), daemon.stderr
            # a stream starts and stops on each server's push channel
            for server, user in ((world.jf, "jf-friend"), (world.emby, "emby-friend")):
                server.set_sessions([jellyfin_stream(user)])
                server.push_sessions([jellyfin_stream(user)])
                assert wait_until(world.all_throttled, timeout=10), (world.limits(), daemon.stderr)
                server.set_sessions([])
                server.push_sessions([])
                assert wait_until(world.all_unlimited, timeout=10), (world.limits(), daemon.stderr)
            # Plex's stream (its event stream), kept on through the faults below
            world.plex.set_sessions([remote_movie()])
            world.plex.emit_playing_event()
            assert wait_until(world.all_throttled, timeout=10), (world.limits(), daemon.stderr)

            # wrong credentials on the media servers, their push channels included
            world.plex.token = "someone-elses-" + SECRETS[("plex", "token")]
            world.jf.api_key = "revoked-" + SECRETS[("jf", "api_key")]
            world.emby.api_key = "revoked-" + SECRETS[("emby", "api_key")]
            world.jf.drop_push_clients()
            world.emby.drop_push_clients()
            assert daemon.wait_for("Plex rejected the token (401)", timeout=8), daemon.stderr
            assert daemon.wait_for("Jellyfin rejected the API key (401)", timeout=8), daemon.stderr
            assert daemon.wait_for("Emby rejected the API key (401)", timeout=8), daemon.stderr
            assert daemon.wait_for("refused the API key on its push channel", count=2, timeout=8), daemon.stderr
            world.plex.token = SECRETS[("plex", "token")]
            world.jf.api_key = SECRETS[("jf", "api_key")]
            world.emby.api_key = SECRETS[("emby", "api_key")]
            assert daemon.wait_for("answers again", count=3, timeout=8), daemon.stderr

            # session ids renewed: qBittorrent's SID, Transmission's session header, Deluge's cookie
            for _ in range(2):
                world.qbt.expire_sessions()
                world.qbt.upload_limit = 0
                assert wait_until(lambda: world.qbt.upload_limit > 0, timeout=8), daemon.stderr
            real_clients.transmission.restart()
            real_clients.note_transmission_session()
            # deluge-web keeps its sessions in web.conf across restarts: end the daemon's one instead
            for cookie in world.dl_proxy.cookies("_session_id"):
                real_clients.deluge.json_as("_session_id=" + cookie, "auth.delete_session")
            real_clients.deluge.restart_web()
            assert wait_until(lambda: len(world.tr_proxy.header_values("X-Transmission-Session-Id")) >= 2
                              and len(world.dl_proxy.cookies("_session_id")) >= 2, timeout=10), (
                world.tr_proxy.header_values("X-Transmission-Session-Id"), world.dl_proxy.cookies("_session_id"))
            assert wait_until(world.all_throttled, timeout=10), (world.limits(), daemon.stderr)

            # qBittorrent changes its password behind our back: 401 on the next login
            world.qbt.password = "changed-" + SECRETS[("qbt", "password")]
            world.qbt.expire_sessions()
            world.qbt.upload_limit = 0
            assert daemon.wait_for("qBittorrent rejected the username or password", timeout=8), daemon.stderr
            world.qbt.password = SECRETS[("qbt", "password")]
            assert wait_until(lambda: world.qbt.upload_limit > 0, timeout=8), daemon.stderr

            # stand-ins going down: SABnzbd (and back), then Jellyfin for good (push channel too)
            world.sab.go_down()
            assert daemon.wait_for("SABnzbd not reachable", timeout=8), daemon.stderr
            world.sab.come_up()
            assert daemon.wait_for("SABnzbd 'sab' answers again", timeout=8), daemon.stderr
            world.jf.go_down()
            assert daemon.wait_for("Jellyfin not reachable", timeout=8), daemon.stderr

            # SIGHUP to the wrong secret everywhere: every client and server says no
            write_over(path, world.config(tmp_path, "file", WRONG, name="wrong.json")[0])
            daemon.process.send_signal(signal.SIGHUP)
            assert daemon.wait_for("config reloaded", timeout=8), daemon.stderr
            for line in ("Transmission rejected the username or password", "Deluge's web UI rejected the password",
                         "SABnzbd rejected the API key", "NZBGet rejected the username or password"):
                assert daemon.wait_for(line, timeout=8), (line, daemon.stderr)
            assert daemon.wait_for("qBittorrent rejected the username or password", count=2, timeout=8)
            assert daemon.wait_for("Plex rejected the token (401)", count=2, timeout=8), daemon.stderr
            assert daemon.wait_for("Emby rejected the API key (401)", count=2, timeout=8), daemon.stderr
            # back to the right ones, then a reload that fails with secrets in the wrong places
            write_over(path, world.config(tmp_path, "file", name="right.json")[0])
            daemon.process.send_signal(signal.SIGHUP)
            assert daemon.wait_for("config reloaded", count=2, timeout=8), daemon.stderr
            assert wait_until(world.all_throttled, timeout=10), (world.limits(), daemon.stderr)
            assert daemon.wait_for("Transmission 'tr' answers again", timeout=8), daemon.stderr
            broken = json.loads(Path(path).read_text())
            broken["download_clients"][1]["password"] = [SECRETS[("tr", "password")]]
            broken["download_clients"][2]["passwrd"] = SECRETS[("dl", "password")]
            broken["media_servers"][1]["api_key"] = {"key": SECRETS[("jf", "api_key")]}
            broken["media_servers"][0]["token"] = SECRETS[("plex", "token")] + " with a space"
            Path(path).write_text(json.dumps(broken))
            daemon.process.send_signal(signal.SIGHUP)
            assert daemon.wait_for("config reload failed", timeout=8), daemon.stderr
            # SIGTERM: every client gets its own limit back
            assert daemon.stop() == 0, daemon.stderr
        assert world.all_unlimited(), world.limits()
        sids = qbt_sids(world.qbt)
        tr_ids = world.tr_proxy.header_values("X-Transmission-Session-Id") | real_clients.tr_ids
        cookies = world.dl_proxy.cookies("_session_id")
        assert len(sids) >= 3 and len(tr_ids) >= 2 and len(cookies) >= 2, (sids, tr_ids, cookies)
        # the push channels' key went in the query (and Jellyfin's also in the header): as the push channels require
        assert any(r.query for r in world.jf.push_requests) and any(r.query for r in world.emby.push_requests)

    output = daemon.stdout + "\n" + daemon.stderr
    for expected in (
        "DEBUG poll:", "push channel connected", "Plex rejected the token (401)", "Jellyfin rejected the API key (401)",
        "Emby rejected the API key (401)", "refused the API key on its push channel", "push channel lost",
        "gave a new session id", "Deluge at", "not authenticated; logging in again", "logging in again",
        "rejected the username or password", "SABnzbd not reachable", "Jellyfin not reachable",
        "config reloaded", "config reload failed", "Deluge's web UI rejected the password",
        "NZBGet rejected the username or password", "SABnzbd rejected the API key",
        "Transmission rejected the username or password",
    ):
        assert expected in output, expected
    assert leaks(all_secret_forms() + sorted(sids | tr_ids | cookies), output) == []
    assert "Traceback" not in output, output


def write_over(path: str, other: str) -> None:
    Path(path).write_text(Path(other).read_text())
    os.chmod(path, 0o600)


def qbt_sids(fake: FakeQBittorrent) -> Set[str]:
    values = set()
    for request in fake.requests:
        for part in request.headers.get("cookie", "").split(";"):
            name, _, value = part.strip().partition("=")
            if name == fake.cookie_name and value:
                values.add(value)
    return values


# ------------------------------------------------------------------------------ --check and --once


def test_check_and_once_with_the_secrets_in_files_and_in_the_environment(tmp_path, real_clients):
    with World(real_clients) as world:
        world.plex.set_sessions([remote_movie()])
        files_right, _ = world.config(tmp_path, "x_file", name="files-right.json")
        env_right_path, env_right = world.config(tmp_path, "env", name="env-right.json")
        files_wrong, _ = world.config(tmp_path, "x_file", WRONG, name="files-wrong.json")
        env_wrong_path, env_wrong = world.config(tmp_path, "env", WRONG, name="env-wrong.json")
        for path in (env_right_path, env_wrong_path):  # the secrets are in the environment only
            assert leaks(all_secret_forms(), Path(path).read_text()) == []

        check_files = run("--config", files_right, "--check", "--verbose")
        check_env = run("--config", env_right_path, "--check", "--verbose", **env_right)
        for result in (check_files, check_env):
            assert result.returncode == 0, result.stdout + result.stderr
            for label in ("Plex OK", "Jellyfin 'jf' OK", "Emby OK", "qBittorrent 'qbt' OK",
                          "Transmission 'tr' OK", "Deluge 'dl' OK", "SABnzbd 'sab' OK", "NZBGet 'nzb' OK"):
                assert label in result.stdout, (label, result.stdout)
        once_env = run("--config", env_right_path, "--once", "--verbose", **env_right)
        assert once_env.returncode == 0, once_env.stderr
        assert "DEBUG poll:" in once_env.stderr and "set to" in once_env.stderr
        assert wait_until(world.all_throttled, timeout=5), world.limits()
        world.reset_limits()
        world.sab.speed.bandwidth_limit = 0

        check_wrong_env = run("--config", env_wrong_path, "--check", "--verbose", **env_wrong)
        check_wrong_files = run("--config", files_wrong, "--check", "--verbose")
        for result in (check_wrong_env, check_wrong_files):
            assert result.returncode == 1, result.stdout + result.stderr
            for line in ("Plex FAILED: Plex rejected the token (401)",
                         "Jellyfin 'jf' FAILED: Jellyfin rejected the API key",
                         "Emby FAILED: Emby rejected the API key",
                         "qBittorrent 'qbt' FAILED: qBittorrent rejected the username or password",
                         "Transmission 'tr' FAILED: Transmission rejected the username or password",
                         "Deluge 'dl' FAILED: Deluge's web UI rejected the password",
                         "SABnzbd 'sab' FAILED: SABnzbd rejected the API key",
                         "NZBGet 'nzb' FAILED: NZBGet rejected the username or password"):
                assert line in result.stdout, (line, result.stdout)
        # --once touches the clients only when the servers could be read: wrong clients, then wrong servers
        servers = {key: value for key, value in SECRETS.items() if key[0] in ("plex", "jf", "emby")}
        clients_wrong, _ = world.config(tmp_path, "x_file", {**WRONG, **servers}, name="clients-wrong.json")
        servers_wrong, servers_wrong_env = world.config(tmp_path, "env", {**SECRETS, **{
            key: WRONG[key] for key in servers}}, name="servers-wrong.json")
        once_wrong_files = run("--config", clients_wrong, "--once", "--verbose")
        once_wrong_env = run("--config", servers_wrong, "--once", "--verbose", **servers_wrong_env)
        for result, lines in (
            (once_wrong_files, ("Transmission rejected the username or password",
                                "Deluge's web UI rejected the password", "NZBGet rejected the username or password",
                                "SABnzbd rejected the API key", "qBittorrent rejected the username or password")),
            (once_wrong_env, ("Plex rejected the token (401)", "Jellyfin rejected the API key (401)",
                              "Emby rejected the API key (401)")),
        ):
            assert result.returncode == 1, result.stderr
            for line in lines:
                assert line in result.stderr, (line, result.stderr)
        results = (check_files, check_env, once_env, check_wrong_env, check_wrong_files, once_wrong_files,
                   once_wrong_env)
        sids = qbt_sids(world.qbt)
        tr_ids = world.tr_proxy.header_values("X-Transmission-Session-Id") | real_clients.tr_ids
        cookies = world.dl_proxy.cookies("_session_id")
        assert sids and tr_ids and cookies
    texts = [r.stdout for r in results] + [r.stderr for r in results]
    assert leaks(all_secret_forms() + sorted(sids | tr_ids | cookies), *texts) == []
    assert not any("Traceback" in text for text in texts)


# ------------------------------------------------------------------------------ broken configs


def test_config_errors_with_secrets_in_the_wrong_places_never_show_them(tmp_path, real_clients):
    with World(real_clients) as world:
        path, _ = world.config(tmp_path, "file")
        good = json.loads(Path(path).read_text())
        plex_token, tr_password = SECRETS[("plex", "token")], SECRETS[("tr", "password")]
        jf_key, sab_key = SECRETS[("jf", "api_key")], SECRETS[("sab", "api_key")]
        dl_password, nzb_password = SECRETS[("dl", "password")], SECRETS[("nzb", "password")]

        def variant(name: str, change) -> str:
            config = json.loads(json.dumps(good))
            change(config)
            target = tmp_path / name
            target.write_text(json.dumps(config))
            os.chmod(target, 0o600)
            return str(target)

        def wrong_types(c: Dict[str, Any]) -> None:
            c["media_servers"][0]["token"] = [plex_token]
            c["media_servers"][1]["api_key"] = {"value": jf_key}
            c["download_clients"][1]["password"] = 5
            c["download_clients"][1]["pasword"] = tr_password
            c["download_clients"][3]["api_key"] = sab_key + " \n"
            c["download_clients"][4]["password"] = [nzb_password]

        def both_ways(c: Dict[str, Any]) -> None:
            c["download_clients"][2]["password_file"] = str(tmp_path / "dl-file")  # and the password too
            del c["download_clients"][4]["password"]
            c["download_clients"][4]["password_file"] = str(tmp_path / "missing-file")

        def wrong_kind(c: Dict[str, Any]) -> None:
            c["media_servers"][2]["token"] = c["media_servers"][2].pop("api_key")  # Emby takes an api_key
            c["media_servers"][0]["api_key"] = plex_token  # Plex takes a token

        def in_the_url(c: Dict[str, Any]) -> None:
            c["media_servers"][0]["url"] = world.plex.url + "/?X-Plex-Token=" + plex_token
            userinfo = "%s:%s" % (TR_USER, urllib.parse.quote(tr_password, safe=""))
            c["download_clients"][1]["url"] = "http://%s@127.0.0.1:9091" % userinfo
            c["media_servers"][1]["url"] = world.jf.url + "/socket?ApiKey=" + urllib.parse.quote(jf_key)
            c["download_clients"][3]["url"] = world.sab.url + "/api?apikey=" + urllib.parse.quote(sab_key)

        (tmp_path / "dl-file").write_text(dl_password)
        configs = [variant("types.json", wrong_types), variant("both.json", both_ways),
                   variant("kind.json", wrong_kind), variant("url.json", in_the_url)]
        broken_json = tmp_path / "broken.json"
        broken_json.write_text(Path(path).read_text()[:-1] + ', "x": "%s" "%s"}' % (dl_password, jf_key))
        os.chmod(broken_json, 0o600)
        configs.append(str(broken_json))
        results = []
        for config in configs:
            for args in (("--check", "--verbose"), ("--verbose",)):
                results.append(run("--config", config, *args))
        env_results = [
            run("--config", path, "--check", PLEX_HELPER_TR__PASSWORD_FILE=str(tmp_path / "nope"),
                PLEX_HELPER_JF__TOKEN=jf_key),
            run("--config", path, "--check", PLEX_HELPER_SAB__API_KEY=sab_key + " and a space"),
            run("--config", path, "--check", PLEX_HELPER_TR__WEIGHT=tr_password),
        ]
    for result in results + env_results:
        assert result.returncode == 2, (result.args, result.stdout, result.stderr)
        assert leaks(all_secret_forms(), result.stdout, result.stderr) == [], (result.args, result.stderr)
        assert "Traceback" not in result.stderr, result.stderr
    stderr = "\n".join(r.stderr for r in results + env_results)
    for expected in ("must be a string", "not valid JSON", "must not contain a query",
                     "must not contain a user name or password", "takes an api_key, not a token",
                     "cannot read", "not both", "printable ASCII", "Plex takes a token"):
        assert expected in stderr, (expected, stderr)



# ------------------------------------------------------------------------------ in process: repr()


def _project_objects(root: Any, limit: int = 400) -> List[Any]:
    """root and every object of the project's own classes reachable through attributes, lists,
    tuples and dict values (what a repr, a log line's %r or a traceback's locals could show)."""
    seen: Set[int] = set()
    found: List[Any] = []
    todo = [root]
    while todo and len(found) < limit:
        current = todo.pop()
        if id(current) in seen or isinstance(current, (str, bytes, int, float, bool, type(None))):
            continue
        seen.add(id(current))
        if isinstance(current, (list, tuple, set, frozenset)):
            todo.extend(current)
            continue
        if isinstance(current, dict):
            todo.extend(current.values())
            continue
        module = type(current).__module__ or ""
        if not module.startswith(("adapters.", "application.", "domain.")):
            continue
        found.append(current)
        try:
            todo.extend(vars(current).values())
        except TypeError:
            pass
    return found


def test_repr_of_settings_and_of_every_object_the_container_builds_holds_no_secret(tmp_path, real_clients):
    from application.config.load import load_settings
    from application.container import Container

    with World(real_clients) as world:
        path, _ = world.config(tmp_path, "x_file")
        env_path, env = world.config(tmp_path, "env", name="env.json")
        for settings in (load_settings(path, {}), load_settings(env_path, env)):
            assert sorted(settings.secrets()) == sorted(SECRETS.values())  # all of them were read
            texts = [repr(settings), str(settings)]
            texts += [repr(s) for s in settings.media_servers] + [repr(c) for c in settings.download_clients]
            container = Container(settings=settings)
            service = container.service()
            runner = container.runner()
            built = [service, runner, container.tick_logger(), *container.event_listeners().values(),
                     *container.media_servers(), *container.client_adapters().values(), *container.client_slots()]
            objects = []
            for obj in built:
                objects.extend(_project_objects(obj))
            kinds = {type(o).__name__ for o in objects}
            for expected in ("PlexStreamSource", "JellyfinStreamSource", "JellyfinEventListener", "PlexEventListener",
                             "QBittorrentClient", "TransmissionClient", "DelugeClient", "SabnzbdClient",
                             "NzbgetClient", "GlobalLimitEnforcer", "ClientSlot"):
                assert expected in kinds, (expected, sorted(kinds))
            texts += [repr(o) for o in objects] + [str(o) for o in objects]
            assert leaks(all_secret_forms(), *texts) == [], [t for t in texts if leaks(all_secret_forms(), t)]
