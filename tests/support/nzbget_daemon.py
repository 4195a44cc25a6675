"""pytest fixtures: a real, throwaway NZBGet (Debian's `nzbget`) on 127.0.0.1 for integration tests.

Each instance gets a temp directory with its own config (a copy of the packaged one with MainDir,
LockFile, LogFile and every queue directory inside it), listens on 127.0.0.1 on a free port with a
known ControlUsername / ControlPassword, has its news server switched off (it never connects out),
and runs in the foreground (`-s`) as our own child, in its own session, with a cleared environment.
It is stopped with the `shutdown` RPC (SIGTERM, then SIGKILL, after a bound) and its directory
removed. Tests using it are skipped when nzbget is not installed.

Import the fixtures into a test module (this module is not registered in tests/conftest.py):

    from tests.support.nzbget_daemon import nzbget_daemon, nzbget_factory  # noqa: F401

    nzbget_daemon     session-scoped default instance: `.url`, `.username`, `.password`, `.rpc(...)`
    nzbget_factory    session-scoped factory: nzbget_factory(password="x", extra={"AddUsername": "a"})
"""
from __future__ import annotations

import atexit
import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional, Set

import pytest

from tests.support.qbittorrent_nox import free_port
from tests.support.sockets import non_loopback_sockets

BINARY = "nzbget"
SKIP_REASON = "nzbget is not installed (apt-get install nzbget)"
PACKAGED_CONFIGS = ("/etc/nzbget.conf", "/usr/share/nzbget/webui/nzbget.conf", "/usr/share/nzbget/nzbget.conf")
WEB_DIR = "/usr/share/nzbget/webui"
START_TIMEOUT_SEC = 20.0
STOP_TIMEOUT_SEC = 10.0

_running: Set["NzbgetInstance"] = set()  # killed at exit if a teardown never ran


def packaged_config() -> Optional[Path]:
    for candidate in PACKAGED_CONFIGS:
        if Path(candidate).is_file():
            return Path(candidate)
    return None


def set_options(text: str, options: Mapping[str, str]) -> str:
    """The config text with each `Name=value` line replaced (or appended when it is missing)."""
    for name, value in options.items():
        line = "%s=%s" % (name, value)
        text, count = re.subn(r"(?m)^%s=.*$" % re.escape(name), lambda _m: line, text)
        if count == 0:
            text += "\n" + line + "\n"
    return text


class NzbgetInstance:
    """One nzbget server: `.url`, `.username`, `.password`, `.port`, `.pid`, `.rpc(method, *params)`."""

    def __init__(self, root: Path, username: str, password: str, extra: Optional[Mapping[str, str]] = None) -> None:
        self.root = root
        self.username = username
        self.password = password
        self.extra = dict(extra or {})
        self.conf = root / "nzbget.conf"
        self.output = root / "nzbget.out"
        self.port = 0
        self._proc: Optional[subprocess.Popen] = None

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def pid(self) -> Optional[int]:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # ---------------------------------------------------------------- start

    def start(self) -> "NzbgetInstance":
        template = packaged_config()
        if template is None:
            pytest.skip("nzbget's packaged config (/etc/nzbget.conf) is missing")
        last_error = ""
        for _ in range(3):
            self.port = free_port()
            self.conf.write_text(set_options(template.read_text(), self._options()))
            try:
                self._launch()
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                if "bind" not in last_error.lower() and "in use" not in last_error.lower():
                    break
        raise RuntimeError(last_error)

    def _options(self) -> Dict[str, str]:
        main = self.root / "main"
        try:
            user = os.getlogin()
        except OSError:
            import pwd

            user = pwd.getpwuid(os.getuid()).pw_name
        options = {
            "MainDir": str(main),
            "DestDir": str(main / "dst"),
            "InterDir": str(main / "inter"),
            "NzbDir": str(main / "nzb"),
            "QueueDir": str(main / "queue"),
            "TempDir": str(main / "tmp"),
            "ScriptDir": str(main / "scripts"),
            "LockFile": str(self.root / "nzbget.lock"),
            "LogFile": str(self.root / "nzbget.log"),
            "WebDir": WEB_DIR,
            "ConfigTemplate": WEB_DIR + "/nzbget.conf",
            "ControlIP": "127.0.0.1",
            "ControlPort": str(self.port),
            "ControlUsername": self.username,
            "ControlPassword": self.password,
            "SecureControl": "no",
            "DaemonUsername": user,
            "OutputMode": "loggable",
            "UpdateCheck": "none",
            "Server1.Active": "no",  # never connect to a news server
            "Server1.Host": "",
        }
        options.update(self.extra)
        return options

    def _env(self) -> Dict[str, str]:
        return {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "HOME": str(self.root),
            "TMPDIR": str(self.root),
            "LANG": "C.UTF-8",
        }

    def _launch(self) -> None:
        args = [shutil.which(BINARY) or BINARY, "-s", "-c", str(self.conf)]
        with open(self.output, "ab") as out, open(os.devnull, "rb") as devnull:
            self._proc = subprocess.Popen(
                args, env=self._env(), cwd=str(self.root), stdin=devnull, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, close_fds=True,
            )
        _running.add(self)
        try:
            self._wait_ready()
            bad = non_loopback_sockets(self._proc.pid)
            if bad:
                raise RuntimeError("refusing to keep nzbget with non-loopback sockets: %s" % bad)
        except BaseException as exc:
            self._terminate()
            if isinstance(exc, RuntimeError):
                raise RuntimeError("%s\n%s" % (exc, self.log_text()[-2000:])) from None
            raise

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SEC
        while time.monotonic() < deadline:
            assert self._proc is not None
            if self._proc.poll() is not None:
                raise RuntimeError("nzbget exited with %s during start" % self._proc.returncode)
            try:
                self.rpc("version")
                return
            except OSError:
                # a taken port: nzbget does not exit, it logs this and tries to bind again forever
                if "Binding socket failed" in self.log_text():
                    raise RuntimeError("nzbget could not bind port %d (in use)" % self.port) from None
                time.sleep(0.05)
        raise RuntimeError("nzbget did not answer within %.0f s" % START_TIMEOUT_SEC)

    # ---------------------------------------------------------------- talking to it (test side)

    def rpc(self, method: str, *params: Any, password: Optional[str] = None, timeout: float = 5.0) -> Any:
        """The decoded JSON-RPC answer (raises OSError, e.g. urllib's HTTPError for a 401)."""
        token = base64.b64encode(
            ("%s:%s" % (self.username, self.password if password is None else password)).encode()
        ).decode()
        request = urllib.request.Request(
            self.url + "/jsonrpc", data=json.dumps({"method": method, "params": list(params)}).encode(),
            headers={"Authorization": "Basic " + token, "Content-Type": "application/json"}, method="POST",
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - 127.0.0.1 only
            return json.loads(response.read().decode("utf-8"))

    def download_limit_bytes(self) -> int:
        return self.rpc("status")["result"]["DownloadLimit"]

    def refused_logins(self) -> int:
        """How many requests NZBGet itself logged as refused (wrong user name or password)."""
        return self.log_text().count("or password invalid")

    def log_text(self) -> str:
        parts = []
        for path in (self.output, self.root / "nzbget.log"):
            if path.exists():
                parts.append(path.read_text(encoding="utf-8", errors="replace"))
        return "\n".join(parts)

    # ---------------------------------------------------------------- stop

    def stop(self) -> None:
        """The `shutdown` RPC; SIGTERM and then SIGKILL if it has not exited within the bound."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            try:
                self.rpc("shutdown", timeout=3.0)
            except (OSError, ValueError):
                pass
            try:
                proc.wait(timeout=STOP_TIMEOUT_SEC)
            except subprocess.TimeoutExpired:
                pass
        self._terminate()

    def _terminate(self) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)  # our own child: the pid cannot have been reused before wait()
            try:
                proc.wait(timeout=STOP_TIMEOUT_SEC)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=STOP_TIMEOUT_SEC)
        self._proc = None
        _running.discard(self)

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait(timeout=STOP_TIMEOUT_SEC)
        self._proc = None
        _running.discard(self)


@atexit.register
def _kill_leftovers() -> None:
    for instance in list(_running):
        instance.kill()


# Module scope, not session: Debian's nzbget 21 keeps one thread busy (a full core, seen in
# /proc/PID/task) while it runs without a news server, which would slow every later test.
@pytest.fixture(scope="module")
def nzbget_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., NzbgetInstance]]:
    """nzbget_factory(username="nzbget", password=<random>, extra={...}) -> a started instance;
    all are stopped and their directories removed at the end of the session."""
    if shutil.which(BINARY) is None:
        pytest.skip(SKIP_REASON)
    instances: List[NzbgetInstance] = []

    def make(username: str = "nzbget", password: str = "", extra: Optional[Mapping[str, str]] = None) -> NzbgetInstance:
        instance = NzbgetInstance(
            tmp_path_factory.mktemp("nzbget"), username, password or "pw-" + secrets.token_hex(8), extra
        )
        instances.append(instance)
        return instance.start()

    try:
        yield make
    finally:
        for instance in instances:
            instance.stop()
            shutil.rmtree(instance.root, ignore_errors=True)


@pytest.fixture(scope="module")
def nzbget_daemon(nzbget_factory: Callable[..., NzbgetInstance]) -> NzbgetInstance:
    """One default instance for the session (user `nzbget`, a random password)."""
    return nzbget_factory()
