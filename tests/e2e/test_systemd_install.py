"""The README's systemd install, run the way the shipped unit runs it, without systemd.

The test lays out a small host under a temporary root: the .pyz at /usr/local/bin and the config
at /etc/plex-helper/config.json installed as the README says (root-owned, mode 600). It then does
what systemd does for packaging/plex-helper.service: copies each LoadCredential= source into a
credentials directory with systemd's permissions, creates the CacheDirectory= and StateDirectory=
owned by the service's user, and starts the unit's ExecStart (with %d resolved) as an unprivileged
user (uid 65534, as DynamicUser= would), with the unit's UMask=, the environment systemd gives and
a NOTIFY_SOCKET to receive READY=1. The daemon must poll the test Plex server, throttle a real
qbittorrent-nox, report ready, and restore the limit on SIGTERM.

systemd 252 writes credentials in one of two ways (src/core/execute.c, write_credential()):
mode 0400 owned by root plus a POSIX ACL granting the service's user read access (tmpfs), or,
where ACLs are not supported (ramfs), mode 0400 owned by the service's user. Both are tested; the
ACL one shows group bits in its mode, which must not give a false "chmod 600" warning.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import REPO
from tests.e2e.test_systemd_unit import UNIT
from tests.support.plex_payloads import remote_movie
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("setpriv") is None, reason="needs root and setpriv to run as another user"
)

SERVICE_UID = SERVICE_GID = 65534  # what a DynamicUser= gets is some unprivileged uid; nobody will do
UNIT_NAME = "plex-helper.service"
KIB = 1024

# POSIX ACL as the kernel stores it in the system.posix_acl_access attribute (linux/posix_acl_xattr.h)
ACL_XATTR = "system.posix_acl_access"
ACL_VERSION = 2
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
ACL_READ, ACL_EXECUTE = 4, 1
ACL_UNDEFINED_ID = 0xFFFFFFFF


def acl_granting(uid: int, owner_perm: int, user_perm: int) -> bytes:
    """The ACL systemd's fd_add_uid_acl_permission() leaves: owner, one named user, mask, nothing else."""
    entries = [
        (ACL_USER_OBJ, owner_perm, ACL_UNDEFINED_ID),
        (ACL_USER, user_perm, uid),
        (ACL_GROUP_OBJ, 0, ACL_UNDEFINED_ID),
        (ACL_MASK, user_perm, ACL_UNDEFINED_ID),
        (ACL_OTHER, 0, ACL_UNDEFINED_ID),
    ]
    return struct.pack("<I", ACL_VERSION) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


def unit_settings(with_secret_credentials: bool = False) -> dict[str, list[str]]:
    """The unit's [Service] settings; optionally with its commented secret credentials switched on."""
    settings: dict[str, list[str]] = {}
    for line in open(UNIT, encoding="utf-8"):
        line = line.strip()
        if with_secret_credentials and line.startswith(("#LoadCredential=", "#Environment=")):
            line = line[1:]
        if line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


class Host:
    """A temporary root standing in for the NAS's file system."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, absolute: str) -> Path:
        assert absolute.startswith("/"), absolute
        return self.root / absolute.lstrip("/")

    def make_dir(self, absolute: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Path:
        path = self.path(absolute)
        path.mkdir(parents=True, exist_ok=True)
        for parent in [path, *path.parents]:
            if parent == self.root.parent:
                break
            if parent != path:
                os.chmod(parent, 0o755)
        os.chown(path, uid, gid)
        os.chmod(path, mode)
        return path

    def install(self, source_bytes: bytes, absolute: str, mode: int) -> Path:
        """`install -m MODE` as root."""
        path = self.path(absolute)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(source_bytes)
        os.chown(path, 0, 0)
        os.chmod(path, mode)
        return path


def load_credentials(host: Host, settings: dict[str, list[str]], how: str) -> Path:
    """What systemd does for LoadCredential=ID:PATH before starting the service."""
    directory = host.make_dir("/run/credentials/" + UNIT_NAME, 0o700)
    for value in settings.get("LoadCredential", []):
        name, _, source = value.partition(":")
        target = directory / name
        target.write_bytes(host.path(source).read_bytes())  # as root: the source may be root-only
        os.chmod(target, 0o400)
        if how == "acl":
            os.setxattr(target, ACL_XATTR, acl_granting(SERVICE_UID, ACL_READ, ACL_READ))
        else:
            os.chown(target, SERVICE_UID, -1)
    os.chmod(directory, 0o500)
    if how == "acl":
        os.setxattr(directory, ACL_XATTR, acl_granting(SERVICE_UID, ACL_READ | ACL_EXECUTE, ACL_READ | ACL_EXECUTE))
    else:
        os.chown(directory, SERVICE_UID, SERVICE_GID)
    return directory


def resolve(word: str, host: Host, credentials: Path) -> str:
    """One ExecStart word: %d is the credentials directory; host paths move under the test root."""
    assert "%" not in word.replace("%d", "").replace("%%", ""), "the test resolves only %%d, not %r" % word
    word = word.replace("%d", str(credentials)).replace("%%", "%")
    if word.startswith(("/usr/local/", "/etc/")):
        return str(host.path(word))
    return word


def interpreter(word: str) -> str:
    """The unit's /usr/bin/python3 where this machine has a usable one, else this test's Python."""
    if os.path.exists(word):
        check = subprocess.run([word, "-c", "import sys; sys.exit(sys.version_info < (3, 10))"], timeout=30)
        if check.returncode == 0:
            return word
    return sys.executable


def acl_supported(directory: Path) -> bool:
    probe = directory / "acl-probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, ACL_XATTR, acl_granting(SERVICE_UID, ACL_READ, ACL_READ))
        return True
    except OSError:
        return False
    finally:
        probe.unlink()


@pytest.fixture
def host(built_pyz):
    root = Path(tempfile.mkdtemp(prefix="plex-helper-host-"))
    os.chmod(root, 0o755)  # pytest's tmp_path is private to root: the service's user must reach the .pyz
    try:
        host = Host(root)
        host.install(built_pyz.read_bytes(), "/usr/local/bin/plex-helper.pyz", 0o755)
        yield host
    finally:
        shutil.rmtree(root, ignore_errors=True)


SYSTEMD_DOC = REPO / "docs" / "systemd.md"
FAST = {"streaming_threshold": 1, "idle_threshold": 1, "poll_interval_sec": 1, "http_timeout_sec": 2}


def documented(kind: str) -> list[str]:
    """The ```KIND blocks of docs/systemd.md."""
    return re.findall(r"```%s\n(.*?)```" % kind, SYSTEMD_DOC.read_text(encoding="utf-8"), re.S)


def readme_config(plex, qbt, secrets_in_file: bool) -> bytes:
    """The shorthand with its secrets in the root-only file, or docs/systemd.md's config naming them %d/NAME."""
    if secrets_in_file:
        config = {"plex_url": plex.url, "qbittorrent_url": qbt.url, "qbittorrent_username": qbt.username,
                  "plex_token": plex.token, "qbittorrent_password": qbt.password, "plex_events": False}
    else:
        config = json.loads(documented("json")[0])
        (server,), (client,) = config["media_servers"], config["download_clients"]
        server.update(url=plex.url, events=False)
        client.update(url=qbt.url, username=qbt.username)
    return json.dumps(dict(config, **FAST)).encode()


def documented_secret_files() -> list[str]:
    """The secrets docs/systemd.md installs root-only beside the config, by file name."""
    (steps,) = documented("sh")
    return re.findall(r"^sudo install -m 600 /dev/null /etc/plex-helper/(\w+) ", steps, re.M)


def limiter(qbt):
    from adapters.clients.qbittorrent.client import QBittorrentClient

    return QBittorrentClient(qbt.url, username=qbt.username, password=qbt.password)


def receive_until(notify: socket.socket, wanted: str, timeout: float) -> list[str]:
    messages: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not any(wanted in m.split("\n") for m in messages):
        notify.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            messages.append(notify.recv(4096).decode())
        except socket.timeout:
            break
    return messages


def check_by_hand_as_root(host: Host) -> None:
    """docs/systemd.md's check before the first start: the secrets read from where the unit takes them."""
    (steps,) = documented("sh")
    assert "sudo CREDENTIALS_DIRECTORY=/etc/plex-helper python3 /usr/local/bin/plex-helper.pyz" in steps
    command = [sys.executable, str(host.path("/usr/local/bin/plex-helper.pyz")),
               "--config", str(host.path("/etc/plex-helper/config.json")), "--check"]
    environment = {"PATH": os.environ.get("PATH", ""), "HOME": str(host.path("/root")),
                   "PLEX_HELPER_CACHE_DIR": str(host.path("/root/.cache/plex-helper"))}
    result = subprocess.run(command, env=dict(environment, CREDENTIALS_DIRECTORY=str(host.path("/etc/plex-helper"))),
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "WARNING" not in result.stderr, result.stdout + result.stderr
    result = subprocess.run(command, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "CREDENTIALS_DIRECTORY is not set" in result.stderr, result.stderr


def test_the_readme_config_is_not_readable_by_the_service_user_itself(host):
    """The premise: what the README installs is root-only, so only a credential can hand it over."""
    config = host.install(b"{}", "/etc/plex-helper/config.json", 0o600)
    result = subprocess.run(
        ["setpriv", "--reuid", str(SERVICE_UID), "--regid", str(SERVICE_GID), "--clear-groups", "--",
         "cat", str(config)], capture_output=True, text=True, timeout=30,
    )
    assert result.returncode != 0 and "Permission denied" in result.stderr


@pytest.mark.parametrize("how, secrets", [("acl", "in the config"), ("ownership", "in the config"),
                                           ("acl", "as credentials")])
def test_the_unit_runs_the_readme_install_as_a_dynamic_user(host, plex_server, qbt_nox, how, secrets):
    settings = unit_settings(with_secret_credentials=secrets == "as credentials")
    if how == "acl" and not acl_supported(host.root):
        pytest.skip("this file system has no POSIX ACLs")
    # the README's install steps (and the unit's comments: each secret in a root-only file)
    host.make_dir("/etc/plex-helper", 0o755)
    host.install(readme_config(plex_server, qbt_nox, secrets == "in the config"), "/etc/plex-helper/config.json", 0o600)
    if secrets == "as credentials":
        values = {"plex_token": plex_server.token, "qbittorrent_password": qbt_nox.password}
        assert documented_secret_files() == list(values)
        # the docs' sed switches on the unit's LoadCredential= lines for exactly the files they install
        (steps,) = documented("sh")
        (script,) = re.findall(r"^sudo sed -i '([^']*)' /etc/systemd/system/plex-helper.service$", steps, re.M)
        edited = subprocess.run(["sed", script, str(UNIT)], capture_output=True, text=True, timeout=30, check=True).stdout
        sources = re.findall(r"^LoadCredential=[\w.]+:(\S+)$", edited, re.M)
        assert sources == ["/etc/plex-helper/config.json"] + ["/etc/plex-helper/" + name for name in values]
        for name, value in dict(values, status_token="status-token-for-the-test").items():
            host.install((value + "\n").encode(), "/etc/plex-helper/" + name, 0o600)
        check_by_hand_as_root(host)
    # what systemd prepares before ExecStart
    credentials = load_credentials(host, settings, how)
    cache = host.make_dir("/var/cache/" + settings["CacheDirectory"][0], 0o700, SERVICE_UID, SERVICE_GID)
    state = host.make_dir("/var/lib/" + settings["StateDirectory"][0], 0o700, SERVICE_UID, SERVICE_GID)
    notify_dir = host.make_dir("/run/systemd", 0o755)
    notify_path = notify_dir / "notify"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    os.chmod(notify_path, 0o777)

    (exec_start,) = settings["ExecStart"]
    words = [resolve(word, host, credentials) for word in shlex.split(exec_start)]
    words[0] = interpreter(words[0])
    environment = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "HOME": "/", "LANG": "C.UTF-8",
        "CREDENTIALS_DIRECTORY": str(credentials),
        "CACHE_DIRECTORY": str(cache),
        "STATE_DIRECTORY": str(state),
        "NOTIFY_SOCKET": str(notify_path),
    }
    for value in settings.get("Environment", []):
        key, _, raw = value.partition("=")
        environment[key] = resolve(raw, host, credentials)
    if secrets == "as credentials":
        assert "PLEX_HELPER_STATUS_TOKEN_FILE" in environment
    umask = int(settings.get("UMask", ["0022"])[0], 8)

    set_limit = limiter(qbt_nox)
    set_limit.set_upload_limit(0)
    plex_server.set_sessions([remote_movie()])
    process = subprocess.Popen(
        ["setpriv", "--reuid", str(SERVICE_UID), "--regid", str(SERVICE_GID), "--clear-groups", "--", *words],
        env=environment, cwd="/", umask=umask, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        messages = receive_until(notify, "READY=1", timeout=30)
        throttled = wait_until(lambda: limiter(qbt_nox).current_upload_limit() == 500 * KIB, timeout=20, interval=0.1)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            _, stderr = process.communicate(timeout=20)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
            notify.close()
    assert any("READY=1" in m.split("\n") for m in messages), (messages, process.returncode, stderr)
    assert throttled, stderr
    assert process.returncode == 0, stderr
    assert "stopping; upload limit restored to unlimited" in stderr
    assert limiter(qbt_nox).current_upload_limit() == 0
    assert "Permission denied" not in stderr and "chmod" not in stderr, stderr
    assert "WARNING" not in stderr, stderr
    # the .pyz unpacked into the CacheDirectory as the service's user
    trees = list(cache.iterdir())
    assert trees and all(tree.stat().st_uid == SERVICE_UID for tree in trees), trees
