"""The temporary limits survive a restart: saved, loaded back equal while active, dropped once
ended; whatever the file holds, loading never raises and keeps only valid limits."""
from __future__ import annotations

import json
import logging

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.system.state_files import TEMPORARY_LIMITS_FILE, OverrideStore
from domain.limit_plan import Direction
from domain.overrides import TemporaryLimit
from domain.policies import SpeedLimit

labels = st.text(max_size=80).filter(str.isprintable)
temporary = st.builds(TemporaryLimit, st.sampled_from(list(Direction)), st.integers(1, 10_000_000).map(SpeedLimit),
                      st.floats(1.0, 4e9), labels)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=3),
    max_leaves=10,
)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=50)
@given(st.lists(temporary, max_size=2, unique_by=lambda t: t.direction), st.floats(0.0, 4e9))
def test_what_is_saved_is_loaded_back_after_a_restart_while_active(tmp_path, limits, now):
    saved = {t.direction: t for t in limits}
    OverrideStore(str(tmp_path)).save_temporary(saved)
    loaded = OverrideStore(str(tmp_path), wall_clock=lambda: now).load_temporary()
    assert loaded == {d: t for d, t in saved.items() if now < t.until}


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=80)
@given(st.dictionaries(st.sampled_from(["upload", "download", "sideways"]), json_values, max_size=3))
def test_any_file_loads_as_valid_limits_or_none(tmp_path, content):
    (tmp_path / TEMPORARY_LIMITS_FILE).write_text(json.dumps(content))
    for direction, limit in OverrideStore(str(tmp_path), wall_clock=lambda: 0.0).load_temporary().items():
        assert limit.direction is direction and 0 < limit.limit.kib_per_sec and limit.until > 0


def test_an_invalid_entry_is_ignored_with_a_warning_naming_the_file_and_the_others_kept(tmp_path, caplog):
    (tmp_path / TEMPORARY_LIMITS_FILE).write_text(json.dumps({
        "upload": {"kib": 1000, "until": 2000.0, "label": "video call"},
        "download": {"kib": "lots", "until": 2000.0},
    }))
    with caplog.at_level(logging.WARNING):
        loaded = OverrideStore(str(tmp_path), wall_clock=lambda: 1000.0).load_temporary()
    assert loaded == {Direction.UPLOAD: TemporaryLimit(Direction.UPLOAD, SpeedLimit(1000), 2000.0, "video call")}
    assert TEMPORARY_LIMITS_FILE in caplog.text and "download" in caplog.text
    assert json.loads((tmp_path / TEMPORARY_LIMITS_FILE).read_text()) == {
        "upload": {"kib": 1000, "until": 2000.0, "label": "video call"}}


def test_an_ended_limit_is_dropped_and_the_file_removed(tmp_path):
    store = OverrideStore(str(tmp_path))
    store.save_temporary({Direction.DOWNLOAD: TemporaryLimit(Direction.DOWNLOAD, SpeedLimit(5), 100.0)})
    assert OverrideStore(str(tmp_path), wall_clock=lambda: 100.0).load_temporary() == {}
    assert not (tmp_path / TEMPORARY_LIMITS_FILE).exists()


def test_a_damaged_file_is_ignored_with_a_warning(tmp_path, caplog):
    (tmp_path / TEMPORARY_LIMITS_FILE).write_text("{trunc")
    with caplog.at_level(logging.WARNING):
        assert OverrideStore(str(tmp_path)).load_temporary() == {}
    assert "not valid JSON" in caplog.text
