import json
import os

import pytest

from adapters.system.state_files import JsonStateFile, OverrideStore, StateFileNotSaved, default_state_dir
from domain.overrides import Override
from domain.state import StreamState
from tests.support.clock import ManualClock


def test_round_trip_and_clear(tmp_path):
    clock = ManualClock(start=1_700_000_000.0)
    store = OverrideStore(str(tmp_path / "state"), wall_clock=clock)
    assert store.load() is None
    override = Override(StreamState.STREAMING, clock.now + 600)
    store.save(override)
    assert oct(os.stat(tmp_path / "state").st_mode & 0o777) == "0o700"
    assert OverrideStore(str(tmp_path / "state"), wall_clock=clock).load() == override
    store.save(None)
    assert store.load() is None and not os.path.exists(store.path)


def test_an_expired_override_is_dropped(tmp_path):
    clock = ManualClock(start=1_700_000_000.0)
    store = OverrideStore(str(tmp_path), wall_clock=clock)
    store.save(Override(StreamState.IDLE, clock.now + 60))
    clock.advance(61)
    assert store.load() is None and not os.path.exists(store.path)


def test_a_damaged_file_is_ignored_with_a_warning(tmp_path, caplog):
    (tmp_path / "override.json").write_text("{not json")
    assert OverrideStore(str(tmp_path)).load() is None
    (tmp_path / "override.json").write_text(json.dumps({"state": "sideways", "until": 1}))
    assert OverrideStore(str(tmp_path)).load() is None
    assert "ignoring the saved override" in caplog.text


def test_an_override_that_cannot_be_saved_is_an_error_naming_the_file(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(StateFileNotSaved, match="could not save .*override.json: .*state_dir is writable"):
        OverrideStore(str(tmp_path / "file" / "sub")).save(Override(StreamState.IDLE, 2e9))


def test_a_state_file_that_cannot_be_saved_warns_once_per_outage_not_at_each_save(tmp_path, caplog):
    (tmp_path / "file").write_text("")
    memory = JsonStateFile(str(tmp_path / "file" / "alternative_mode.json"))
    assert [memory.save({"switched_on": True}) for _ in range(3)] == [False, False, False]
    assert caplog.text.count("could not save") == 1


def test_default_state_dir():
    assert default_state_dir({"STATE_DIRECTORY": "/var/lib/plex-helper"}) == "/var/lib/plex-helper"
    assert default_state_dir({"XDG_STATE_HOME": "/x", "HOME": "/h"}) == "/x/plex-helper"
    # not the cache any more (tests/adapters/system/test_state_migration.py: what was there moves)
    assert default_state_dir({"CACHE_DIRECTORY": "/var/cache/plex-helper", "HOME": "/h"}).startswith("/h/")


# --- links planted in state_dir are not followed -----------------------------------------------------

def test_a_symlinked_state_file_is_not_followed(tmp_path, caplog):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"state": "streaming", "until": 4_000_000_000}))
    state = tmp_path / "state"
    state.mkdir()
    os.symlink(elsewhere, state / "override.json")
    with pytest.raises(Exception) as caught:
        JsonStateFile(str(state / "override.json")).load()
    assert "symbolic link" in str(caught.value)
    assert OverrideStore(str(state)).load() is None  # a warning, no override from the other file
    assert "ignoring the saved override" in caplog.text and "symbolic link" in caplog.text


def test_a_dangling_link_is_refused_too_and_saving_replaces_the_link_not_its_target(tmp_path):
    target = tmp_path / "target.json"
    state = tmp_path / "state"
    state.mkdir()
    os.symlink(target, state / "global_limit.json")
    store = JsonStateFile(str(state / "global_limit.json"))
    with pytest.raises(Exception, match="symbolic link"):
        store.load()
    store.write({"kib": 5})
    assert not target.exists() and not os.path.islink(state / "global_limit.json")
    assert store.load() == {"kib": 5}
