"""Whatever JSON a field holds: a ConfigError naming the field, or settings that run. Never a traceback.

Every number is bounded, so nothing passes `--check` and then fails at run time (a
poll_interval_sec of 10**12 passed and then crashed the loop with OverflowError).
"""
import atexit
import json
import os
import shutil
import tempfile
import threading

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from adapters.fakes import ScriptedStreamSource
from application.check import describe_limits
from application.config.load import ConfigError, load_settings
from application.config.schema import ConfigSchema
from application.container import Container
from tests.application.builders import LAN, REMOTE, ManualClock
from tests.application.daemon import run
from tests.application.config.test_config import VALID, write
from tests.application.test_reload import FakeQBittorrentModes

FIELDS = sorted(ConfigSchema().fields)

BOUNDS = [
    ("poll_interval_sec", 10**12, "must be at most 3600"),
    ("poll_interval_sec", 3600.5, "must be at most 3600"),
    ("plex_down_restore_after_sec", 7 * 86400 + 1, "must be at most 604800"),
    ("reconcile_interval_sec", 86401, "must be at most 86400"),
    ("login_retry_sec", 10**20, "must be at most 86400"),
    ("http_timeout_sec", 1e308, "must be at most 30"),
    ("streaming_threshold", 1001, "must be at most 1000"),
    ("idle_threshold", 10**30, "must be at most 1000"),
    ("max_transitions_per_hour", 3601, "must be at most 3600"),
    ("notify_after_failures", 10**6, "must be at most 1000"),
    ("stream_overhead_factor", 11, "must be at most 10"),
    ("dynamic_deadband_percent", -0.5, "must be between 0 and 100"),
    ("streaming_upload_kbps", 10**12, "must be at most 2000000 KiB/s"),
    ("poll_interval_sec", 10**400, "is far too large"),
]


@pytest.mark.parametrize("field,value,message", BOUNDS)
def test_every_number_has_an_upper_bound(tmp_path, field, value, message):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, {**VALID, field: value}), {})
    (line,) = info.value.problems
    assert line.startswith("%s: %s: " % (tmp_path / "config.json", field)) and message in line, line


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
@pytest.mark.parametrize("field", ["poll_interval_sec", "http_timeout_sec", "stream_overhead_factor", "dynamic_deadband_percent",
                                   "plex_down_restore_after_sec", "reconcile_interval_sec", "login_retry_sec"])
def test_nan_and_infinity_are_refused(tmp_path, field, value):
    text = json.dumps({**VALID, field: 0}).replace('"%s": 0' % field, '"%s": %s' % (field, value))
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, text), {})
    (line,) = info.value.problems
    assert "%s: must be a finite number (not NaN or infinity)" % field in line, line


def test_a_huge_poll_interval_is_refused_by_the_cli_with_exit_2(tmp_path):
    path = write(tmp_path, {**VALID, "poll_interval_sec": 10**12})
    result = run("--config", path, "--check", timeout=20)
    assert (result.returncode, result.stderr) == (2, "%s: poll_interval_sec: must be at most 3600\n" % path)


# ------------------------------------------------------------------------------ the property

scalars = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-10**40, max_value=10**40)
    | st.integers(min_value=-1, max_value=5000) | st.floats(min_value=-1, max_value=10**6)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=30)
    | st.sampled_from(["20 Mbit/s", "unlimited", "0", "playing", "http://127.0.0.1:9", "127.0.0.1:0", "tiers",
                      "dynamic", "alternative", "10.0.0.0/8", "ntfy"])
)
# half plain values (which are often valid, so the settings get run), half anything JSON can hold
json_values = scalars | st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
        st.sampled_from(["streams", "upload_kbps", "type", "url", "token", "x"]) | st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)

_WORK = tempfile.mkdtemp(prefix="plex-helper-fuzz-")  # hypothesis examples cannot use tmp_path
atexit.register(shutil.rmtree, _WORK, True)
BASE = {**VALID, "state_dir": os.path.join(_WORK, "state"), "upload_capacity_kbps": 4000,
        "streaming_tiers": [{"streams": 1, "upload_kbps": 800}], "streaming_threshold": 1, "idle_threshold": 1}


def run_once_with_fakes(s) -> None:
    """What `--once` does, with Plex and qBittorrent replaced by the in-memory fakes. In the work
    directory: a generated relative state_dir must not land in the repository."""
    here = os.getcwd()
    os.chdir(_WORK)
    try:
        _run_once_with_fakes(s)
    finally:
        os.chdir(here)


def _run_once_with_fakes(s) -> None:
    describe_limits(s)  # what --check prints
    container = Container(settings=s)
    container.media_servers(), container.client_adapters()  # the real adapters can be built
    container = Container(settings=s)
    container.override_providers(
        media_server_overrides={s.media_servers[0].name: ScriptedStreamSource([[REMOTE, LAN], [REMOTE], []])},
        download_client_overrides={s.download_clients[0].name: FakeQBittorrentModes()}, clock=ManualClock(),
    )
    runner = container.runner()
    for _ in range(3):
        runner.run_once()
    for seconds in durations(s):  # the loop waits this long: a timeout Python refuses would crash it
        assert threading.Lock().acquire(timeout=seconds)


def durations(s):
    return (s.poll_interval_sec, s.poll_interval_sec / 2, s.reconcile_interval_sec, s.login_retry_sec,
            s.plex_down_restore_after_sec, s.http_timeout_sec)


def check_field(field, value) -> None:
    path = os.path.join(_WORK, "config.json")
    with open(path, "w") as handle:
        json.dump({**BASE, field: value}, handle)
    try:
        s = load_settings(path, {})
    except ConfigError as err:
        assert err.problems and all(line.startswith(path + ": ") for line in err.problems), err.problems
        assert any(": %s" % field in line or ": config: " in line for line in err.problems), (field, err.problems)
        return
    run_once_with_fakes(s)


@pytest.mark.parametrize("field", FIELDS)
@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=json_values)
def test_any_json_in_any_field_is_an_error_naming_it_or_runs(field, value):
    check_field(field, value)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(field=st.sampled_from(FIELDS), text=st.text(max_size=40) | json_values.map(json.dumps))
def test_any_environment_text_is_an_error_naming_the_variable_or_runs(field, text):
    path = os.path.join(_WORK, "env-config.json")
    with open(path, "w") as handle:
        json.dump(BASE, handle)
    variable = "PLEX_HELPER_" + field.upper()
    try:
        s = load_settings(path, {variable: text})
    except ConfigError as err:
        assert any(line.startswith("environment %s: %s" % (variable, field)) or line.startswith(variable)
                   for line in err.problems), err.problems
        return
    run_once_with_fakes(s)


def test_half_a_surrogate_pair_is_refused_not_sent(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, '{"plex_url": "http://plex:32400", "plex_token": "t", '
                                      '"qbittorrent_url": "http://qbt:8080", "ignore_users": ["\\ud800"]}'), {})
    (line,) = info.value.problems
    assert line.endswith("ignore_users[0]: must be valid Unicode text (it holds a lone \\uD800-\\uDFFF escape)"), line
