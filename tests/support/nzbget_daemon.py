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

import base64
import json
import os
import re
import secrets
import shutil
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Mapping, Optional

import pytest

from tests.support.daemon_process import DaemonProcess, base_env
from tests.support.ports import free_port

BINARY = "nzbget"
SKIP_REASON = "nzbget is not installed (apt-get install nzbget)"
PACKAGED_CONFIGS = ("/etc/nzbget.conf", "/usr/share/nzbget/webui/nzbget.conf", "/usr/share/nzbget/nzbget.conf")
WEB_DIR = "/usr/share/nzbget/webui"
START_TIMEOUT_SEC = 20.0
STOP_TIMEOUT_SEC = 10.0


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
        self._process: Optional[DaemonProcess] = None

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    @property
    def pid(self) -> Optional[int]:
        return self._process.pid if self._process is not None else None

    def is_running(self) -> bool:
        return self._process is not None and self._process.running

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

    def _launch(self) -> None:
        args = [shutil.which(BINARY) or BINARY, "-s", "-c", str(self.conf)]
        self._process = DaemonProcess(
            BINARY, args, base_env(self.root, self.root), self.root, self.output, STOP_TIMEOUT_SEC,
            extra_logs=[self.root / "nzbget.log"],
        )
        self._process.start(self._ready, START_TIMEOUT_SEC)

    def _ready(self) -> bool:
        try:
            self.rpc("version")
            return True
        except OSError:
            # a taken port: nzbget does not exit, it logs this and tries to bind again forever
            if "Binding socket failed" in self.log_text():
                raise RuntimeError("nzbget could not bind port %d (in use)" % self.port) from None
            return False

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
        process = self._process
        if process is None:
            return
        if process.running:
            try:
                self.rpc("shutdown", timeout=3.0)
            except (OSError, ValueError):
                pass
            process.wait(STOP_TIMEOUT_SEC)
        process.stop()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()


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
