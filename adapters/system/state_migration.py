"""Moving the state earlier versions kept in the cache directory to the state directory, once.

Before, outside systemd, the override, the limits plex-helper found and changed, and the history
lived beside the unpacked .pyz in the cache (PLEX_HELPER_CACHE_DIR, CACHE_DIRECTORY, XDG_CACHE_HOME,
~/.cache). A cleaned cache must not lose a limit that is still to be restored, so they now live in
the state directory (adapters/system/state_files.py `default_state_dir`). An upgrade moves them
there at the first start; later starts find nothing left to move.
"""
from __future__ import annotations

import os
import shutil
import sys
from typing import List, Mapping

from adapters.system.state_files import ALTERNATIVE_MODE_FILE, GLOBAL_LIMIT_FILE, OVERRIDE_FILE

HISTORY_FILE = "history.sqlite3"
# The history's journal files go with it: a committed write may still be only in its -wal.
STATE_FILES = (OVERRIDE_FILE, ALTERNATIVE_MODE_FILE, GLOBAL_LIMIT_FILE, HISTORY_FILE,
               HISTORY_FILE + "-wal", HISTORY_FILE + "-shm", HISTORY_FILE + "-journal")


def old_state_dir(environ: Mapping[str, str]) -> str:
    """Where earlier versions kept the state: the .pyz's cache directory, by the bootstrap's rules
    (packaging/zipapp_main.py `cache_root`)."""
    for variable in ("PLEX_HELPER_CACHE_DIR", "CACHE_DIRECTORY"):
        value = environ.get(variable, "").split(":")[0]
        if value:
            return os.path.abspath(value)
    base = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):
        home = environ.get("HOME") or os.path.expanduser("~")
        base = os.path.join(home, "Library/Caches" if sys.platform == "darwin" else ".cache")
    return os.path.join(base, "plex-helper")


def move_old_state(state_dir: str, environ: Mapping[str, str]) -> List[str]:
    """Move the state files found in the old place into `state_dir`; the names of those moved.

    Nothing moves when `state_dir` already holds any state file (it is in use: the old files are
    older) or when the two places are one. Raises OSError when a move fails.
    """
    old = old_state_dir(environ)
    if os.path.realpath(old) == os.path.realpath(state_dir):
        return []
    found = [name for name in STATE_FILES if os.path.isfile(os.path.join(old, name))]
    if not found or any(os.path.lexists(os.path.join(state_dir, name)) for name in STATE_FILES):
        return []
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    for name in found:
        shutil.move(os.path.join(old, name), os.path.join(state_dir, name))
    return found
