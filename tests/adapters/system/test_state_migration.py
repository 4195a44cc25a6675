"""Outside systemd the state lives in the XDG state directory; what an earlier version kept in the
cache directory is moved there once, and never over state already in use."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from adapters.system.state_files import default_state_dir
from adapters.system.state_migration import move_old_state, old_state_dir

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.skipif(sys.platform == "darwin", reason="the Linux layout")
def test_the_state_dir_is_the_xdg_state_directory():
    assert default_state_dir({"HOME": "/home/a"}) == "/home/a/.local/state/plex-helper"
    assert default_state_dir({"HOME": "/home/a", "XDG_STATE_HOME": "relative"}) == "/home/a/.local/state/plex-helper"
    assert default_state_dir({"HOME": "/home/a", "STATE_DIRECTORY": "/var/lib/p:/var/lib/q"}) == "/var/lib/p"


def test_the_old_place_is_the_bootstraps_cache_directory():
    spec = importlib.util.spec_from_file_location("zipapp_main_rules", REPO / "packaging" / "zipapp_main.py")
    boot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(boot)
    for environ in ({"PLEX_HELPER_CACHE_DIR": "relative/cache"}, {"CACHE_DIRECTORY": "/var/cache/a:/var/cache/b"},
                    {"XDG_CACHE_HOME": "not/absolute"}, {"XDG_CACHE_HOME": "/x"}, {}):
        assert old_state_dir(environ) == boot.cache_root(environ), environ


def homes(tmp_path):
    environ = {"HOME": str(tmp_path / "home")}
    old = Path(old_state_dir(environ))
    old.mkdir(parents=True)
    (old / "0123456789abcdef-linux-x86_64-glibc").mkdir()  # an unpacked build: stays in the cache
    return environ, old, Path(default_state_dir(environ))


def test_old_state_is_moved_once(tmp_path):
    environ, old, new = homes(tmp_path)
    (old / "global_limit.json").write_text('{"qbittorrent": 1024}')
    (old / "history.sqlite3").write_bytes(b"SQLite format 3\0")
    assert move_old_state(str(new), environ) == ["global_limit.json", "history.sqlite3"]
    assert (new / "global_limit.json").read_text() == '{"qbittorrent": 1024}'
    assert (new / "history.sqlite3").read_bytes() == b"SQLite format 3\0"
    assert sorted(p.name for p in old.iterdir()) == ["0123456789abcdef-linux-x86_64-glibc"]
    assert move_old_state(str(new), environ) == []  # nothing left to move


def test_state_in_use_is_never_overwritten(tmp_path):
    environ, old, new = homes(tmp_path)
    (old / "override.json").write_text('{"old": true}')
    new.mkdir(parents=True)
    (new / "global_limit.json").write_text("{}")
    assert move_old_state(str(new), environ) == []
    assert (old / "override.json").exists() and not (new / "override.json").exists()


def test_one_place_moves_nothing(tmp_path):
    environ, old, _ = homes(tmp_path)
    (old / "override.json").write_text("{}")
    assert move_old_state(str(old), environ) == []
