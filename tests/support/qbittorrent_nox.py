"""pytest plugin: throwaway, real qbittorrent-nox instances on 127.0.0.1 for integration tests.

Each instance gets its own temp profile with a known WebUI user and PBKDF2 password, listens on
127.0.0.1 only with every network feature off, runs in its own session with a cleared environment
(qbittorrent-nox reads QBT_* variables, and even `--help` writes a profile under $HOME), and is
always stopped at teardown (SIGTERM, then SIGKILL). Tests using it are skipped when qbittorrent-nox
is not installed.

Fixtures:
    qbt_nox              module-scoped default instance (LocalHostAuth on, no ban in practice)
    qbt_nox_module       module-scoped factory:   qbt_nox_module(**QbtOptions fields) -> QbtInstance
    qbt_nox_factory      function-scoped factory: fresh instances for ban/restart tests
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Iterator, List, Optional, Tuple

import pytest

from tests.support.daemon_process import DaemonProcess, base_env, http_answers
from tests.support.ports import free_port

BINARY = "qbittorrent-nox"
SKIP_REASON = "qbittorrent-nox is not installed"
START_TIMEOUT_SEC = 30.0
STOP_TIMEOUT_SEC = 15.0


@dataclass(frozen=True)
class QbtOptions:
    username: str = "admin"
    password: str = "qbt-test-pass-123"
    localhost_auth: bool = True  # False: clients on 127.0.0.1 need no login
    max_fail: int = 5  # failed logins before an IP ban; 0 = never ban
    ban_seconds: int = 3600
    session_timeout: int = 3600  # idle seconds; 0 = never


def pbkdf2_value(password: str) -> str:
    """qBittorrent's `WebUI\\Password_PBKDF2` value: PBKDF2-HMAC-SHA512, 100000 rounds, 16-byte salt."""
    salt = os.urandom(16)
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, 100000, 64)
    return '"@ByteArray(%s:%s)"' % (base64.b64encode(salt).decode(), base64.b64encode(key).decode())


def _ini_string(value: str) -> str:
    if value.startswith("@"):
        value = "@" + value  # QSettings reads a leading @ as a type marker
    return '"%s"' % value.replace("\\", "\\\\").replace('"', '\\"')


def set_ini_keys(path: Path, items: List[Tuple[str, str, str]]) -> None:
    """Set section/key=value in a QSettings INI file, keeping everything else qBittorrent wrote."""
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    for section, key, value in items:
        header = "[%s]" % section
        if header not in lines:
            lines += ([""] if lines else []) + [header]
        start = lines.index(header)
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")), len(lines))
        for i in range(start + 1, end):
            if lines[i].split("=", 1)[0].strip() == key:
                lines[i] = "%s=%s" % (key, value)
                break
        else:
            last = end
            while last > start + 1 and not lines[last - 1].strip():
                last -= 1
            lines.insert(last, "%s=%s" % (key, value))
    tmp = path.with_suffix(".tmp")
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def _safety_keys(webui_port: int) -> List[Tuple[str, str, str]]:
    """Keys that keep the instance on 127.0.0.1 and off the network; written before every launch."""
    return [
        ("LegalNotice", "Accepted", "true"),
        ("Network", "PortForwardingEnabled", "false"),
        ("BitTorrent", "TrackerEnabled", "false"),
        ("BitTorrent", "Session\\Interface", ""),
        ("BitTorrent", "Session\\InterfaceName", ""),
        ("BitTorrent", "Session\\InterfaceAddress", "127.0.0.1"),
        ("BitTorrent", "Session\\DHTEnabled", "false"),
        ("BitTorrent", "Session\\PeXEnabled", "false"),
        ("BitTorrent", "Session\\LSDEnabled", "false"),
        ("Preferences", "WebUI\\Enabled", "true"),
        ("Preferences", "WebUI\\Address", "127.0.0.1"),
        ("Preferences", "WebUI\\Port", str(webui_port)),
        ("Preferences", "WebUI\\UseUPnP", "false"),
        ("Preferences", "WebUI\\HTTPS\\Enabled", "false"),
        ("Preferences", "Connection\\ResolvePeerCountries", "false"),
        ("Preferences", "DynDNS\\Enabled", "false"),
    ]


class QbtInstance:
    """One qbittorrent-nox: `.url`, `.username`, `.password`, `.port`, `.pid`; `.restart()` keeps
    port and profile (sessions are lost, settings and the upload limit survive)."""

    def __init__(self, root: Path, options: QbtOptions) -> None:
        self.root = root
        self.options = options
        self.username = options.username
        self.password = options.password
        self.profile = root / "profile"
        self.conf = self.profile / "qBittorrent" / "config" / "qBittorrent.conf"
        self.output = root / "qbt.log"
        self.port = 0
        self._process: Optional[DaemonProcess] = None

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.running

    def _env(self) -> Dict[str, str]:
        home = self.root / "home"
        return base_env(
            home, self.root / "tmp",
            XDG_RUNTIME_DIR=str(self.root / "run"),
            XDG_CONFIG_HOME=str(home / ".config"),
            XDG_DATA_HOME=str(home / ".local" / "share"),
            XDG_CACHE_HOME=str(home / ".cache"),
        )

    def _make_dirs(self) -> None:
        for sub in ("home", "tmp", "run", "downloads"):
            (self.root / sub).mkdir(parents=True, exist_ok=True)
        self.conf.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root / "run", 0o700)

    def start(self) -> "QbtInstance":
        """First start: write a fresh profile; retry with other ports if one was taken meanwhile."""
        self._make_dirs()
        last_error = ""
        for _ in range(3):
            self.port = free_port()
            torrent_port = free_port({self.port})
            if self.conf.exists():
                self.conf.unlink()
            set_ini_keys(self.conf, self._initial_keys(torrent_port) + _safety_keys(self.port))
            try:
                self._launch()
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                if "Unable to bind" not in last_error:
                    break
        raise RuntimeError(last_error)

    def _initial_keys(self, torrent_port: int) -> List[Tuple[str, str, str]]:
        o = self.options
        return [
            ("BitTorrent", "Session\\Port", str(torrent_port)),
            ("BitTorrent", "Session\\DefaultSavePath", _ini_string(str(self.root / "downloads"))),
            ("BitTorrent", "Session\\TempPath", _ini_string(str(self.root / "downloads" / "temp"))),
            ("Preferences", "WebUI\\LocalHostAuth", "true" if o.localhost_auth else "false"),
            ("Preferences", "WebUI\\Username", _ini_string(o.username)),
            ("Preferences", "WebUI\\Password_PBKDF2", pbkdf2_value(o.password)),
            ("Preferences", "WebUI\\MaxAuthenticationFailCount", str(o.max_fail)),
            ("Preferences", "WebUI\\BanDuration", str(o.ban_seconds)),
            ("Preferences", "WebUI\\SessionTimeout", str(o.session_timeout)),
            ("Preferences", "WebUI\\ServerDomains", _ini_string("*")),
        ]

    def _launch(self) -> None:
        args = [shutil.which(BINARY) or BINARY, "--profile=%s" % self.profile, "--webui-port=%d" % self.port]
        if _needs_legal_flag(self._env()):
            args.append("--confirm-legal-notice")  # qBittorrent 5+; 4.5 reads LegalNotice\Accepted
        self._process = DaemonProcess(BINARY, args, self._env(), self.root, self.output, STOP_TIMEOUT_SEC)
        self._process.start(lambda: http_answers(self.port, "GET", "/api/v2/app/version"), START_TIMEOUT_SEC)

    def stop(self) -> None:
        """Clean exit (SIGTERM, SIGKILL after a bound): qBittorrent saves its settings."""
        if self._process is not None:
            self._process.stop()

    def kill(self) -> None:
        """A crash: settings changed in the last ~5 s are lost."""
        if self._process is not None:
            self._process.kill()

    def restart(self) -> "QbtInstance":
        """Same port and profile; old sessions become invalid, bans are forgotten."""
        self.stop()
        set_ini_keys(self.conf, _safety_keys(self.port))
        self._launch()
        return self

    def log_text(self) -> str:
        return self.output.read_text(encoding="utf-8", errors="replace") if self.output.exists() else ""


_legal_flag: Dict[str, bool] = {}


def _needs_legal_flag(env: Dict[str, str]) -> bool:
    """Whether this qbittorrent-nox knows --confirm-legal-notice (asked once, in a throwaway HOME)."""
    if "value" not in _legal_flag:
        try:
            out = subprocess.run(
                [shutil.which(BINARY) or BINARY, "--help"], env=env, stdin=subprocess.DEVNULL,
                capture_output=True, timeout=15, start_new_session=True,
            )
            _legal_flag["value"] = b"--confirm-legal-notice" in out.stdout + out.stderr
        except (OSError, subprocess.TimeoutExpired):
            _legal_flag["value"] = False
    return _legal_flag["value"]


def _factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., QbtInstance]]:
    if shutil.which(BINARY) is None:
        pytest.skip(SKIP_REASON)
    instances: List[QbtInstance] = []

    def make(**options: object) -> QbtInstance:
        instance = QbtInstance(tmp_path_factory.mktemp("qbt"), QbtOptions(**options))  # type: ignore[arg-type]
        instances.append(instance)
        return instance.start()

    try:
        yield make
    finally:
        for instance in instances:
            instance.stop()


@pytest.fixture
def qbt_nox_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., QbtInstance]]:
    """Fresh instances, stopped at the end of the test: `qbt_nox_factory(max_fail=2)`."""
    yield from _factory(tmp_path_factory)


@pytest.fixture(scope="module")
def qbt_nox_module(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., QbtInstance]]:
    """Instances shared by a test module, stopped at its end."""
    yield from _factory(tmp_path_factory)


@pytest.fixture(scope="module")
def qbt_nox(qbt_nox_module: Callable[..., QbtInstance]) -> QbtInstance:
    """One default instance per module (login required, bans effectively off)."""
    return qbt_nox_module(max_fail=0)
