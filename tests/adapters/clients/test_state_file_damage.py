"""Broken state files never leave a throttle in place, and remembered values are validated like
config: an empty, truncated, binary, directory or FIFO file, wrong types, values no client accepts."""
from __future__ import annotations

import json
import logging
import os
from typing import List

import pytest

from adapters.clients.alternative_mode import AlternativeModeEnforcer
from adapters.clients.enforcers import MAX_CLIENT_LIMIT_BYTES, GlobalLimitEnforcer
from adapters.system.state_files import JsonStateFile, OverrideStore, UnreadableStateFile
from domain.policies import SpeedLimit
from domain.state import StreamState

IDLE = SpeedLimit(0)
THROTTLE = SpeedLimit(500)


class FakeQBittorrent:
    """Global and alternative limits of one client, and every write made to it."""

    def __init__(self, limit: int = 0, mode: bool = False, alt_limit: int = 0) -> None:
        self.limit, self.mode, self.alt_limit = limit, mode, alt_limit
        self.writes: List[tuple] = []

    def current_upload_limit(self) -> int:
        return self.limit

    def set_upload_limit(self, value: int) -> None:
        self.writes.append(("limit", value))
        self.limit = value

    def alternative_mode(self) -> bool:
        return self.mode

    def set_alternative_mode(self, on: bool) -> None:
        self.writes.append(("mode", on))
        self.mode = on

    def alternative_upload_limit(self) -> int:
        return self.alt_limit

    # the ports in the domain's type, as the enforcers use them
    def read_upload_limit(self) -> SpeedLimit:
        return SpeedLimit.from_bytes(self.current_upload_limit())

    def write_upload_limit(self, limit: SpeedLimit) -> None:
        self.set_upload_limit(limit.bytes_per_sec)

    def read_alternative_upload_limit(self) -> SpeedLimit:
        return SpeedLimit.from_bytes(self.alternative_upload_limit())

    def write_alternative_upload_limit(self, limit: SpeedLimit) -> None:
        self.set_alternative_upload_limit(limit.bytes_per_sec)

    def set_alternative_upload_limit(self, value: int) -> None:
        self.writes.append(("alt_limit", value))
        self.alt_limit = value


def damage(path, kind: str) -> None:
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        path.write_text('{"switched_on": tr')
    elif kind == "binary":
        path.write_bytes(bytes(range(256)))
    elif kind == "directory":
        path.mkdir()
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "list":
        path.write_text("[1, 2]")


KINDS = ["empty", "truncated", "binary", "directory", "fifo", "list"]


@pytest.mark.parametrize("kind", KINDS)
def test_load_refuses_a_damaged_file_with_a_reason(tmp_path, kind):
    path = tmp_path / "state.json"
    damage(path, kind)
    with pytest.raises(UnreadableStateFile) as info:
        JsonStateFile(str(path)).load()  # a FIFO must not block here
    assert str(info.value)


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_alternative_mode_file_still_ends_the_throttle(tmp_path, kind, caplog):
    path = tmp_path / "alternative_mode.json"
    damage(path, kind)
    qbt = FakeQBittorrent(mode=True, alt_limit=THROTTLE.bytes_per_sec)  # left on by a crashed run
    enforcer = AlternativeModeEnforcer(qbt, JsonStateFile(str(path)), client="qBittorrent")
    assert "cannot be read" in caplog.text and "alternative speed mode" in caplog.text
    assert "check it in the client's speed settings" in caplog.text  # what the user can do about the lost limit
    assert enforcer.lowered
    enforcer.restore_own()
    assert qbt.mode is False
    assert not os.path.lexists(path)  # nothing left to undo


def test_a_mistyped_switched_on_is_reported_not_silently_ignored(tmp_path, caplog):
    path = tmp_path / "alternative_mode.json"
    path.write_text(json.dumps({"switched_on": "true", "original_limit": 1024}))
    qbt = FakeQBittorrent(mode=True)
    enforcer = AlternativeModeEnforcer(qbt, JsonStateFile(str(path)))
    assert "invalid switched_on" in caplog.text
    assert enforcer.release(IDLE) == "alternative speed mode switched off"


@pytest.mark.parametrize("value", [99999999999999999999, MAX_CLIENT_LIMIT_BYTES + 1, -5, 1.5, True, "1024"])
def test_a_remembered_limit_no_client_accepts_is_never_written_back(tmp_path, caplog, value):
    path = tmp_path / "alternative_mode.json"
    path.write_text(json.dumps({"switched_on": False, "original_limit": value}))
    qbt = FakeQBittorrent(mode=True)
    enforcer = AlternativeModeEnforcer(qbt, JsonStateFile(str(path)))
    assert "invalid original_limit" in caplog.text
    enforcer.release(IDLE)
    assert all(kind != "alt_limit" for kind, _ in qbt.writes)
    assert all(v <= MAX_CLIENT_LIMIT_BYTES for kind, v in qbt.writes if kind != "mode")


def test_the_global_mode_remembers_its_throttle_before_the_write(tmp_path):
    path = tmp_path / "global_limit.json"
    qbt = FakeQBittorrent(limit=2000 * 1024)
    enforcer = GlobalLimitEnforcer(qbt, JsonStateFile(str(path)))
    enforcer.check()
    enforcer.put(THROTTLE, throttle=True)
    assert json.loads(path.read_text()) == {
        "lowered_to": THROTTLE.bytes_per_sec, "found_before": 2000 * 1024, "native": 2000 * 1024}
    # a new run (after kill -9) that never gets to decide still undoes it at exit
    restarted = GlobalLimitEnforcer(qbt, JsonStateFile(str(path)))
    assert restarted.release(IDLE) == "upload limit restored to unlimited"
    assert qbt.limit == 0 and not path.exists()


def test_the_global_mode_forgets_once_idle_is_in_force(tmp_path):
    path = tmp_path / "global_limit.json"
    qbt = FakeQBittorrent()
    enforcer = GlobalLimitEnforcer(qbt, JsonStateFile(str(path)))
    enforcer.check()
    enforcer.put(THROTTLE, throttle=True)
    assert path.exists()
    enforcer.put(IDLE, throttle=False)
    assert not path.exists()
    assert GlobalLimitEnforcer(qbt, JsonStateFile(str(path))).release(IDLE) is None


@pytest.mark.parametrize("kind", KINDS)
def test_a_damaged_global_file_means_restore_at_exit(tmp_path, kind, caplog):
    path = tmp_path / "global_limit.json"
    damage(path, kind)
    qbt = FakeQBittorrent(limit=THROTTLE.bytes_per_sec)
    enforcer = GlobalLimitEnforcer(qbt, JsonStateFile(str(path)), client="qBittorrent")
    assert "may have lowered qBittorrent's upload limit" in caplog.text
    assert enforcer.release(IDLE) == "upload limit restored to unlimited"
    assert qbt.limit == 0


@pytest.mark.parametrize("raw", [
    {"state": "streaming", "until": "2e9"}, {"state": "streaming", "until": float("inf")},
    {"state": "streaming", "until": 1e300}, {"state": True, "until": 2e9}, {"until": 2e9},
])
def test_an_invalid_saved_override_is_reported_and_not_applied(tmp_path, caplog, raw):
    (tmp_path / "override.json").write_text(json.dumps(raw))
    with caplog.at_level(logging.WARNING):
        assert OverrideStore(str(tmp_path), wall_clock=lambda: 1.7e9).load() is None
    assert "no override is in force" in caplog.text


def test_a_fifo_override_file_does_not_hang(tmp_path, caplog):
    os.mkfifo(tmp_path / "override.json")
    assert OverrideStore(str(tmp_path)).load() is None
    assert "not a regular file" in caplog.text
