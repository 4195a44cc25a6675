"""pytest plugin: a throwaway, real Deluge (deluged + deluge-web) on 127.0.0.1 for integration tests.

Both processes share one config directory under a pytest temp dir. core.conf and web.conf are
written before the first start (torrent port, DHT, UPnP, NAT-PMP, LSD, uTP-PEX and the release check
off; everything on 127.0.0.1; a web password of our own). After the start the fixture sets up the
web UI's Connection Manager the way a user would: the default entry (127.0.0.1:58846) is edited to
point at the daemon's free port. It does not connect the web UI to the daemon: that is the adapter's
job. Both processes run in their own sessions with a cleared environment and are always stopped at
teardown (SIGTERM, then SIGKILL). Tests are skipped when deluged or deluge-web is missing.

Fixtures:
    deluge_factory     function-scoped factory: deluge_factory() -> DelugeInstance
    deluge_session     session-scoped factory
    deluge             session-scoped instance
"""
from __future__ import annotations

import hashlib
import http.client
import json
import re
import shutil
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional

import pytest

from tests.support.daemon_process import DaemonProcess, base_env, port_open
from tests.support.ports import free_port
from tests.support.waiting import wait_until

DAEMON, WEB = "deluged", "deluge-web"
SKIP_REASON = "deluged or deluge-web is not installed"
SETTLE_SEC = 10.0  # for deluged to apply its config's listen interface
START_TIMEOUT_SEC = 30.0
STOP_TIMEOUT_SEC = 15.0
WEB_PASSWORD = "dl-web-pass-7q!"
_SALT = "5f0d3c1a9b7e4d2c8a6b1e0f3d5c7a9b2e4f6a8c"


def _conf(file_version: int, values: Dict[str, Any]) -> str:
    """Deluge's config format: a version object followed by the values object."""
    return json.dumps({"file": file_version, "format": 1}) + json.dumps(values, indent=4)


class DelugeInstance:
    """deluged + deluge-web: `.url` (web UI), `.daemon_port`, `.web_port`, `.password` (web UI),
    `.restart_web()`, `.restart_daemon()`, `.json(method, *params)` (raw calls, own session)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config_dir = root / "config"
        self.password = WEB_PASSWORD
        self.daemon_port = 0
        self.web_port = 0
        self.torrent_port = 0
        self._daemon: Optional[DaemonProcess] = None
        self._web: Optional[DaemonProcess] = None
        self._cookie = ""

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.web_port

    @property
    def web_log(self) -> Path:
        return self.root / "web.log"

    # ------------------------------------------------------------------ start and stop

    def start(self) -> "DelugeInstance":
        for sub in ("home", "tmp", "downloads"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.config_dir.mkdir(parents=True, exist_ok=True)
        self.daemon_port = free_port()
        self.web_port = free_port({self.daemon_port})
        self.torrent_port = free_port({self.daemon_port, self.web_port})
        self._write_configs()
        self._start_daemon()
        self._start_web()
        self._point_host_entry_at_daemon()
        return self

    def _write_configs(self) -> None:
        core = {
            "listen_ports": [self.torrent_port, self.torrent_port],
            "listen_interface": "127.0.0.1",
            "outgoing_interface": "",
            "random_port": False,
            "random_outgoing_ports": True,
            "dht": False,
            "upnp": False,
            "natpmp": False,
            "utpex": False,
            "lsd": False,
            "new_release_check": False,
            "allow_remote": False,
            "download_location": str(self.root / "downloads"),
            "move_completed_path": str(self.root / "downloads"),
            "torrentfiles_location": str(self.root / "downloads"),
        }
        salted = hashlib.sha1((_SALT + WEB_PASSWORD).encode("utf-8")).hexdigest()
        web = {
            "pwd_salt": _SALT,
            "pwd_sha1": salted,
            "first_login": False,
            "interface": "127.0.0.1",
            "port": self.web_port,
            "https": False,
            "default_daemon": "",
        }
        (self.config_dir / "core.conf").write_text(_conf(1, core))
        (self.config_dir / "web.conf").write_text(_conf(2, web))

    def _env(self) -> Dict[str, str]:
        home = self.root / "home"
        return base_env(home, self.root / "tmp", XDG_CONFIG_HOME=str(home / ".config"), PYTHONWARNINGS="ignore")

    def _start(self, name: str, args: List[str], port: int, log: Path) -> DaemonProcess:
        """Both stopped when either fails to start. deluged starts libtorrent with its defaults
        (0.0.0.0:6881, UPnP, LSD) and applies core.conf a moment later: on a loaded machine the
        loopback check can land in between, hence the settle time."""
        process = DaemonProcess(
            name, args, self._env(), self.root, self.root / (log.stem + ".out"), STOP_TIMEOUT_SEC, extra_logs=[log]
        )
        try:
            return process.start(lambda: port_open(port), START_TIMEOUT_SEC, settle_sec=SETTLE_SEC)
        except BaseException:
            self.stop()
            raise

    def _start_daemon(self) -> None:
        args = [
            shutil.which(DAEMON) or DAEMON, "-d", "-c", str(self.config_dir), "-p", str(self.daemon_port),
            "-u", "127.0.0.1", "-i", "127.0.0.1", "-L", "info", "-l", str(self.root / "deluged.log"),
        ]
        self._daemon = self._start(DAEMON, args, self.daemon_port, self.root / "deluged.log")
        self._wait_file(self.config_dir / "auth")

    def _start_web(self) -> None:
        args = [
            shutil.which(WEB) or WEB, "-d", "-c", str(self.config_dir), "-p", str(self.web_port), "-i", "127.0.0.1",
            "-L", "info", "-l", str(self.web_log),
        ]
        self._web = self._start(WEB, args, self.web_port, self.web_log)

    def _wait_file(self, path: Path) -> None:
        if not wait_until(lambda: path.exists() and path.read_text().strip(), START_TIMEOUT_SEC, 0.05):
            raise RuntimeError("deluged did not write %s" % path)

    def _point_host_entry_at_daemon(self) -> None:
        """What a user does in the Connection Manager when deluged is not on port 58846: edit the entry."""
        self.json("auth.login", self.password)
        hosts = self.json("web.get_hosts")["result"]
        localclient = self.localclient_password()
        if hosts:
            self.json("web.edit_host", hosts[0][0], "127.0.0.1", self.daemon_port, "localclient", localclient)
        else:
            self.json("web.add_host", "127.0.0.1", self.daemon_port, "localclient", localclient)

    def localclient_password(self) -> str:
        for line in (self.config_dir / "auth").read_text().splitlines():
            user, _, rest = line.partition(":")
            if user == "localclient":
                return rest.split(":")[0]
        raise RuntimeError("no localclient in deluged's auth file")

    def stop(self) -> None:
        for process in (self._web, self._daemon):
            if process is not None:
                process.stop()
        self._web = self._daemon = None

    def kill(self) -> None:
        for process in (self._web, self._daemon):
            if process is not None:
                process.kill()
        self._web = self._daemon = None

    def restart_web(self) -> None:
        """deluge-web only: it forgets its connection to deluged."""
        if self._web is not None:
            self._web.stop()
        self._start_web()

    def restart_daemon(self) -> None:
        """deluged only: the web UI stays up, disconnected."""
        if self._daemon is not None:
            self._daemon.stop()
        self._start_daemon()

    # ------------------------------------------------------------------ raw calls

    def json(self, method: str, *params: Any) -> Dict[str, Any]:
        """One JSON-RPC call with this fixture's own session (not the adapter's)."""
        answer = self.json_as(self._cookie, method, *params)
        if answer.get("error") and answer["error"].get("code") == 1 and method != "auth.login":
            self.json("auth.login", self.password)  # our own session expired or was deleted
            return self.json_as(self._cookie, method, *params)
        return answer

    def json_as(self, cookie: str, method: str, *params: Any) -> Dict[str, Any]:
        """One JSON-RPC call with the cookie given ("_session_id=..."), e.g. to end someone's session."""
        body = json.dumps({"method": method, "params": list(params), "id": 1}).encode()
        headers = {"Content-Type": "application/json"}
        if cookie:
            headers["Cookie"] = cookie
        conn = http.client.HTTPConnection("127.0.0.1", self.web_port, timeout=10)
        try:
            conn.request("POST", "/json", body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            cookie = response.getheader("Set-Cookie")
        finally:
            conn.close()
        if cookie and method == "auth.login":
            self._cookie = cookie.split(";", 1)[0]
        return json.loads(data)

    def requests_logged(self, user_agent: str = "python-urllib3") -> int:
        """POST /json requests in deluge-web's access log from clients whose User-Agent starts so.

        The log is written as each answer is sent, in order: after `json()` returned, every
        earlier request is in it (its own lines carry no User-Agent)."""
        if not self.web_log.exists():
            return 0
        text = self.web_log.read_text(errors="replace")
        return len(re.findall(r'"POST /json HTTP/1\.1" \d+ \d+ "[^"]*" "%s' % re.escape(user_agent), text))


def _factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], DelugeInstance]]:
    if shutil.which(DAEMON) is None or shutil.which(WEB) is None:
        pytest.skip(SKIP_REASON)
    instances: List[DelugeInstance] = []

    def make() -> DelugeInstance:
        instance = DelugeInstance(tmp_path_factory.mktemp("deluge"))
        instances.append(instance)
        return instance.start()

    try:
        yield make
    finally:
        for instance in instances:
            instance.stop()
            shutil.rmtree(instance.root, ignore_errors=True)


@pytest.fixture
def deluge_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], DelugeInstance]]:
    """Fresh instances, stopped and removed at the end of the test."""
    yield from _factory(tmp_path_factory)


@pytest.fixture(scope="session")
def deluge_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], DelugeInstance]]:
    yield from _factory(tmp_path_factory)


@pytest.fixture(scope="session")
def deluge(deluge_session: Callable[[], DelugeInstance]) -> DelugeInstance:
    """One instance for the run; its web UI starts disconnected from its daemon."""
    return deluge_session()
