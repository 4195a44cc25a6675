"""Every top-level setting from PLEX_HELPER_<FIELD> (or _FILE), over the file."""
import os

import pytest

from application.config.load import ConfigError, load_settings
from application.config.settings import Settings
from tests.application.config.test_config import VALID, write


def load(tmp_path, environ, **fields):
    return load_settings(write(tmp_path, {**VALID, **fields}), environ)


def problem_lines(tmp_path, environ, **fields):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, environ, **fields)
    return info.value.problems


@pytest.mark.parametrize("variable,value,field,expected", [
    ("PLEX_HELPER_POLL_INTERVAL_SEC", "30", "poll_interval_sec", 30),
    ("PLEX_HELPER_POLL_INTERVAL_SEC", "2.5", "poll_interval_sec", 2.5),
    ("PLEX_HELPER_RESTORE_ON_EXIT", "false", "restore_on_exit", False),
    ("PLEX_HELPER_PLEX_URL", "http://10.0.0.5:32400", "plex_url", "http://10.0.0.5:32400"),
    ("PLEX_HELPER_STREAMING_UPLOAD_KBPS", "20 Mbit/s", "streaming_upload_kbps", 2441),
    ("PLEX_HELPER_STREAMING_UPLOAD_KBPS", "300", "streaming_upload_kbps", 300),
    ("PLEX_HELPER_COUNT_STATES", '["playing", "paused"]', "count_states", ("playing", "paused")),
    ("PLEX_HELPER_IGNORE_USERS", '["alice"]', "ignore_users", ("alice",)),
    ("PLEX_HELPER_LIMIT_POLICY", "dynamic", "limit_policy", "dynamic"),
    ("PLEX_HELPER_QBITTORRENT_USERNAME", "1234", "qbittorrent_username", "1234"),  # a text field stays text
    ("PLEX_HELPER_STATE_DIR", '"/var/lib/plex-helper"', "state_dir", "/var/lib/plex-helper"),
    ("PLEX_HELPER_PLEX_TOKEN", "12345", "plex_token", "12345"),  # a secret is taken as it is
    ("PLEX_HELPER_STATUS_TOKEN", "true", "status_token", "true"),
])
def test_a_field_from_the_environment_overrides_the_file(tmp_path, variable, value, field, expected):
    extra = {"upload_capacity_kbps": 4000} if field == "limit_policy" else {}
    assert getattr(load(tmp_path, {variable: value}, **extra), field) == expected


def test_every_field_has_a_variable(tmp_path):
    """Not a hand-kept list: each Settings field can be set, here to its own default."""
    defaults = {"idle_upload_kbps": "0", "streaming_upload_kbps": "500", "count_states": '["playing"]', "notify": "[]",
                "lan_networks": "[]", "ignore_users": "[]", "streaming_tiers": "[]", "poll_interval_sec": "10"}
    env = {"PLEX_HELPER_" + name.upper(): value for name, value in defaults.items()}
    s = load(tmp_path, env)
    assert (s.poll_interval_sec, s.count_states, s.streaming_upload_kbps) == (10, ("playing",), 500)
    from application.config.schema import ConfigSchema

    settings_fields = set(Settings.__dataclass_fields__)
    assert set(ConfigSchema().fields) == settings_fields


def test_an_error_names_the_variable_and_the_field(tmp_path):
    (line,) = problem_lines(tmp_path, {"PLEX_HELPER_POLL_INTERVAL_SEC": "1e12"})
    assert line == "environment PLEX_HELPER_POLL_INTERVAL_SEC: poll_interval_sec: must be at most 3600"


def test_a_rate_error_names_the_variable(tmp_path):
    (line,) = problem_lines(tmp_path, {"PLEX_HELPER_STREAMING_UPLOAD_KBPS": "20 mbps"})
    assert line.startswith('environment PLEX_HELPER_STREAMING_UPLOAD_KBPS: streaming_upload_kbps: unknown unit "mbps"')


def test_text_where_a_number_belongs(tmp_path):
    (line,) = problem_lines(tmp_path, {"PLEX_HELPER_IDLE_THRESHOLD": "three"})
    assert line == "environment PLEX_HELPER_IDLE_THRESHOLD: idle_threshold: must be a whole number"


def test_the_file_keeps_its_own_errors(tmp_path):
    lines = problem_lines(tmp_path, {"PLEX_HELPER_IDLE_THRESHOLD": "0"}, streaming_threshold=0)
    path = str(tmp_path / "config.json")
    assert sorted(lines) == sorted([
        "environment PLEX_HELPER_IDLE_THRESHOLD: idle_threshold: must be at least 1",
        "%s: streaming_threshold: must be at least 1" % path,
    ])


def test_a_nested_error_names_the_variable(tmp_path):
    env = {"PLEX_HELPER_LIMIT_POLICY": "tiers", "PLEX_HELPER_STREAMING_TIERS": '[{"streams": 0, "upload_kbps": 1}]'}
    (line,) = problem_lines(tmp_path, env)
    assert line == "environment PLEX_HELPER_STREAMING_TIERS: streaming_tiers[0].streams: must be at least 1"


def test_variables_that_are_not_fields_are_ignored(tmp_path):
    env = {"PLEX_HELPER_CACHE_DIR": "/tmp/x", "PLEX_HELPER_TEST_PROBE": "1", "PLEX_HELPER_NOPE": "{", "PLEX_HELPER_": "x"}
    assert load(tmp_path, env).poll_interval_sec == 10


def test_an_empty_variable_counts_as_not_set(tmp_path):
    assert load(tmp_path, {"PLEX_HELPER_POLL_INTERVAL_SEC": ""}, poll_interval_sec=20).poll_interval_sec == 20


@pytest.mark.parametrize("legacy,modern", [
    ("PLEX_TOKEN", "PLEX_HELPER_PLEX_TOKEN"),
    ("QBITTORRENT_PASSWORD", "PLEX_HELPER_QBITTORRENT_PASSWORD"),
    ("QBITTORRENT_API_KEY", "PLEX_HELPER_QBITTORRENT_API_KEY"),
])
def test_both_names_of_a_secret_set_is_an_error(tmp_path, legacy, modern):
    (line,) = problem_lines(tmp_path, {legacy: "SECRET-A", modern: "SECRET-B"})
    assert line == "%s and %s are both set; use one" % (legacy, modern)


def test_the_legacy_secret_names_still_work(tmp_path):
    env = {"PLEX_TOKEN": "tok-env", "QBITTORRENT_PASSWORD": "pw-env", "PLEX_HELPER_STATUS_TOKEN": "st"}
    s = load(tmp_path, env)
    assert (s.plex_token, s.qbittorrent_password, s.status_token) == ("tok-env", "pw-env", "st")


def test_status_token_file_is_one_variable_not_two(tmp_path):
    (tmp_path / "st").write_text("from-file\n")
    s = load(tmp_path, {"PLEX_HELPER_STATUS_TOKEN_FILE": str(tmp_path / "st")})
    assert s.status_token == "from-file"
    (line,) = problem_lines(tmp_path, {"PLEX_HELPER_STATUS_TOKEN_FILE": str(tmp_path / "st"), "PLEX_HELPER_STATUS_TOKEN": "x"})
    assert line == "PLEX_HELPER_STATUS_TOKEN and PLEX_HELPER_STATUS_TOKEN_FILE are both set; use one"


def test_any_field_from_a_file(tmp_path):
    (tmp_path / "notify.json").write_text('[{"type": "ntfy", "url": "https://ntfy.example/topic", "token": "tk_SECRET"}]\n')
    (tmp_path / "pw").write_text("pw-from-file\n")
    env = {"PLEX_HELPER_NOTIFY_FILE": str(tmp_path / "notify.json"), "PLEX_HELPER_QBITTORRENT_PASSWORD_FILE": str(tmp_path / "pw")}
    s = load(tmp_path, env)
    assert s.notify[0]["token"] == "tk_SECRET" and s.qbittorrent_password == "pw-from-file"


def test_a_field_named_like_a_file_is_not_read_as_one(tmp_path):
    (tmp_path / "ca.pem").write_text("not really a CA")
    s = load(tmp_path, {"PLEX_HELPER_PLEX_CA_FILE": str(tmp_path / "ca.pem")})
    assert s.plex_ca_file == str(tmp_path / "ca.pem")


def test_a_secret_never_appears_in_an_error(tmp_path):
    env = {"PLEX_HELPER_PLEX_TOKEN": "has SECRET space", "PLEX_HELPER_STATUS_TOKEN": "also SECRET bad",
           "PLEX_HELPER_QBITTORRENT_API_KEY": "SECRET\tkey"}
    lines = problem_lines(tmp_path, env)
    assert len(lines) == 3 and all(line.startswith("environment PLEX_HELPER_") for line in lines)
    assert not any("SECRET" in line for line in lines)


def test_a_secret_file_in_error_names_the_variable_not_the_value(tmp_path):
    (tmp_path / "tok").write_text("bad SECRET token\n")
    (line,) = problem_lines(tmp_path, {"PLEX_TOKEN_FILE": str(tmp_path / "tok")})
    assert line == "environment PLEX_TOKEN_FILE: plex_token: must contain only printable ASCII characters without spaces"


def test_missing_required_field_may_come_from_the_environment(tmp_path):
    data = {k: v for k, v in VALID.items() if k != "plex_url"}
    path = write(tmp_path, data)
    assert load_settings(path, {"PLEX_HELPER_PLEX_URL": "http://plex:32400"}).plex_url == "http://plex:32400"


def test_the_real_environment_is_used_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("PLEX_HELPER_IDLE_THRESHOLD", "7")
    assert load_settings(write(tmp_path, VALID)).idle_threshold == 7
    assert os.environ["PLEX_HELPER_IDLE_THRESHOLD"] == "7"
