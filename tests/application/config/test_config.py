import json
import os

import pytest

from application.config.load import ConfigError, load_settings, permission_warnings

VALID = {
    "plex_url": "http://192.168.1.10:32400",
    "plex_token": "tok-file",
    "qbittorrent_url": "http://192.168.1.10:8080",
    "qbittorrent_username": "admin",
    "qbittorrent_password": "pw-file",
}


def write(tmp_path, data, name="config.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    os.chmod(path, 0o600)
    return str(path)


def problems(tmp_path, data, environ=None):
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_settings(path, environ or {})
    for line in info.value.problems:
        assert line.startswith(path + ": ") or line.split(":")[0].endswith("_FILE") or "_FILE" in line
    return info.value.problems


def test_defaults_from_the_design_notes(tmp_path):
    s = load_settings(write(tmp_path, VALID), {})
    # no idle limit: each client keeps its own; an explicit 0 means unlimited, as before
    assert (s.idle_upload_kbps, s.streaming_upload_kbps, s.poll_interval_sec) == (None, 500, 10)
    assert (s.streaming_threshold, s.idle_threshold) == (2, 3)
    assert s.count_states == ("playing",)
    assert s.plex_down_restore_after_sec == 300 and s.restore_on_exit is True
    assert s.http_timeout_sec == 10 and s.login_retry_sec == 300 and s.reconcile_interval_sec == 60
    assert s.plex_verify_tls and s.qbittorrent_verify_tls
    assert s.lan_networks == () and s.ignore_users == ()


def test_secrets_are_not_in_the_settings_repr(tmp_path):
    s = load_settings(write(tmp_path, {**VALID, "qbittorrent_api_key": "qbt_key"}), {})
    assert "tok-file" not in repr(s) and "pw-file" not in repr(s) and "qbt_key" not in repr(s)


BAD_FIELDS = [
    ("plex_url", "ftp://plex", "must be an http:// or https:// URL"),
    ("plex_url", "http://", "must be an http:// or https:// URL"),
    ("plex_url", 42, "must be a string"),
    ("qbittorrent_url", "localhost:8080", "must be an http:// or https:// URL"),
    ("qbittorrent_url", "http://user:pw@host:8080", "must not contain a user name or password"),
    ("plex_url", "http://host:99999", "invalid port"),
    ("plex_token", "", "must not be empty"),
    ("idle_upload_kbps", -1, "must be at least 0"),
    ("idle_upload_kbps", "100", "must be a whole number"),
    ("streaming_upload_kbps", 1.5, "must be a whole number"),
    ("streaming_upload_kbps", True, "must be a whole number"),
    ("poll_interval_sec", 0, "must be at least 1"),
    ("poll_interval_sec", "10", "must be a number"),
    ("streaming_threshold", 0, "must be at least 1"),
    ("idle_threshold", -3, "must be at least 1"),
    ("idle_threshold", None, "must not be null"),
    ("count_states", [], "must name at least one state"),
    ("count_states", ["playing", "stopped"], "must be one of"),
    ("count_states", "playing", "must be a list"),
    ("plex_down_restore_after_sec", -1, "must be at least 0"),
    ("restore_on_exit", "yes", "must be true or false"),
    ("reconcile_interval_sec", -5, "must be at least 0"),
    ("http_timeout_sec", 0, "must be greater than 0"),
    ("http_timeout_sec", 31, "must be at most 30"),
    ("plex_url", "http://plex:32400/?X-Plex-Token=abc", "must not contain a query"),
    ("login_retry_sec", 0, "must be at least 1"),
    ("plex_verify_tls", 1, "must be true or false"),
    ("plex_ca_file", "/nonexistent/ca.pem", "does not exist"),
    ("qbittorrent_ca_file", "/nonexistent/ca.pem", "does not exist"),
    ("lan_networks", ["10.0.0.0/8", "192.168.1.0/33"], "is not a network"),
    ("lan_networks", "10.0.0.0/8", "must be a list"),
    ("ignore_users", [1], "must be a string"),
]


@pytest.mark.parametrize("field,value,message", BAD_FIELDS)
def test_each_bad_field_gives_one_line_naming_it(tmp_path, field, value, message):
    lines = problems(tmp_path, {**VALID, field: value})
    assert len(lines) == 1, lines
    assert (": %s" % field) in lines[0] and message in lines[0], lines


def test_every_problem_is_reported_at_once(tmp_path):
    lines = problems(tmp_path, {**VALID, "streaming_threshold": 0, "plex_url": "nope", "typo_field": 1})
    assert len(lines) == 3
    assert any("typo_field: is not a known setting" in line for line in lines)


@pytest.mark.parametrize("field", ["plex_url", "plex_token", "qbittorrent_url"])
def test_required_fields(tmp_path, field):
    data = dict(VALID)
    del data[field]
    (line,) = problems(tmp_path, data)
    assert "%s: is required" % field in line


def test_missing_token_names_the_environment_variable(tmp_path):
    data = dict(VALID)
    del data["plex_token"]
    (line,) = problems(tmp_path, data)
    assert "PLEX_TOKEN" in line


def test_username_without_password(tmp_path):
    data = dict(VALID)
    del data["qbittorrent_password"]
    (line,) = problems(tmp_path, data)
    assert "qbittorrent_password: required when qbittorrent_username is set" in line


def test_password_without_username(tmp_path):
    data = dict(VALID)
    del data["qbittorrent_username"]
    (line,) = problems(tmp_path, data)
    assert "qbittorrent_username" in line


def test_no_qbittorrent_credentials_means_bypass(tmp_path):
    data = {k: v for k, v in VALID.items() if not k.startswith("qbittorrent_user") and k != "qbittorrent_password"}
    s = load_settings(write(tmp_path, data), {})
    assert s.qbittorrent_username == "" and s.qbittorrent_password == ""


def test_bad_json_names_line_and_column(tmp_path):
    (line,) = problems(tmp_path, '{\n  "plex_url": "http://x",\n  oops\n}')
    assert "not valid JSON" in line and "line 3 column 3" in line


def test_top_level_must_be_an_object(tmp_path):
    (line,) = problems(tmp_path, "[1, 2]")
    assert "JSON object" in line


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings(str(tmp_path / "nope.json"), {})
    assert info.value.problems == ["%s: config file not found" % (tmp_path / "nope.json")]


def test_unreadable_file(tmp_path):
    path = tmp_path / "dir.json"
    path.mkdir()
    with pytest.raises(ConfigError) as info:
        load_settings(str(path), {})
    assert "cannot read the config file" in info.value.problems[0]


def test_environment_overrides_secrets(tmp_path):
    env = {"PLEX_TOKEN": "tok-env", "QBITTORRENT_PASSWORD": "pw-env", "QBITTORRENT_API_KEY": "qbt_env"}
    s = load_settings(write(tmp_path, VALID), env)
    assert (s.plex_token, s.qbittorrent_password, s.qbittorrent_api_key) == ("tok-env", "pw-env", "qbt_env")


def test_secrets_only_from_the_environment(tmp_path):
    data = {k: v for k, v in VALID.items() if k not in ("plex_token", "qbittorrent_password")}
    s = load_settings(write(tmp_path, data), {"PLEX_TOKEN": "tok-env", "QBITTORRENT_PASSWORD": "pw-env"})
    assert s.plex_token == "tok-env" and s.qbittorrent_password == "pw-env"


def test_secret_files_strip_the_trailing_newline(tmp_path):
    (tmp_path / "token").write_text("tok-from-file\n")
    (tmp_path / "pw").write_text("pw from file\r\n")
    (tmp_path / "key").write_text("qbt_keyfile")
    env = {
        "PLEX_TOKEN_FILE": str(tmp_path / "token"),
        "QBITTORRENT_PASSWORD_FILE": str(tmp_path / "pw"),
        "QBITTORRENT_API_KEY_FILE": str(tmp_path / "key"),
    }
    s = load_settings(write(tmp_path, VALID), env)
    assert (s.plex_token, s.qbittorrent_password, s.qbittorrent_api_key) == ("tok-from-file", "pw from file", "qbt_keyfile")


def test_missing_secret_file(tmp_path):
    path = write(tmp_path, VALID)
    with pytest.raises(ConfigError) as info:
        load_settings(path, {"PLEX_TOKEN_FILE": str(tmp_path / "missing")})
    (line,) = info.value.problems
    assert line.startswith("PLEX_TOKEN_FILE: cannot read") and "missing" in line


def test_variable_and_file_both_set(tmp_path):
    (tmp_path / "token").write_text("x")
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, VALID), {"PLEX_TOKEN": "a", "PLEX_TOKEN_FILE": str(tmp_path / "token")})
    assert "PLEX_TOKEN and PLEX_TOKEN_FILE are both set" in info.value.problems[0]


def test_empty_token_from_file_is_reported(tmp_path):
    (tmp_path / "token").write_text("\n")
    data = {k: v for k, v in VALID.items() if k != "plex_token"}
    with pytest.raises(ConfigError) as info:
        load_settings(write(tmp_path, data), {"PLEX_TOKEN_FILE": str(tmp_path / "token")})
    assert "plex_token: must not be empty" in info.value.problems[0]


def test_error_lines_never_contain_secrets(tmp_path):
    data = {**VALID, "plex_token": "SECRET-TOKEN-1", "qbittorrent_password": "SECRET-PW-1", "streaming_threshold": 0, "bogus": 1}
    lines = problems(tmp_path, data)
    assert not any("SECRET" in line for line in lines)


def test_world_readable_config_with_secrets_warns(tmp_path):
    path = write(tmp_path, VALID)
    assert permission_warnings(path, {}) == []
    os.chmod(path, 0o644)
    (warning,) = permission_warnings(path, {})
    assert "chmod 600" in warning


def test_readable_config_without_secrets_does_not_warn(tmp_path):
    data = {k: v for k, v in VALID.items() if k not in ("plex_token", "qbittorrent_password")}
    path = write(tmp_path, data)
    os.chmod(path, 0o644)
    assert permission_warnings(path, {}) == []


def test_lan_networks_and_ignore_users_are_parsed(tmp_path):
    s = load_settings(write(tmp_path, {**VALID, "lan_networks": ["172.17.0.0/16", "fd00::/8"], "ignore_users": ["me"]}), {})
    assert [str(n) for n in s.lan_networks] == ["172.17.0.0/16", "fd00::/8"]
    assert s.ignore_users == ("me",)


def test_example_config_is_valid():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    load_settings(os.path.join(root, "config.example.json"), {})


STATUS_AND_NOTIFY = [
    ({"status_listen": "0.0.0.0:9911"}, "status_listen: binding to 0.0.0.0 without a status_token"),
    ({"status_listen": ":9911"}, "status_listen: binding to all addresses without a status_token"),
    ({"status_listen": "nope"}, "status_listen: must be host:port"),
    ({"status_token": "has space"}, "status_token: must contain only printable ASCII"),
    ({"notify": [{"type": "pager"}]}, "notify[0].type: must be one of ntfy, telegram, webhook"),
    ({"notify": [{"type": "telegram", "chat_id": "1"}]}, "notify[0].bot_token: is required"),
    ({"notify": ["ntfy"]}, "notify[0]: must be an object"),
    ({"notify_after_failures": 0}, "notify_after_failures: must be at least 1"),
    ({"max_transitions_per_hour": -1}, "max_transitions_per_hour: must be at least 0"),
    ({"limit_policy": "dynamic"}, "upload_capacity_kbps: required (at least 1) when limit_policy is dynamic"),
    ({"limit_policy": "tiers"}, "streaming_tiers: must list at least one tier"),
    ({"limit_policy": "tiers", "streaming_tiers": [{"streams": 0, "upload_kbps": 1}]}, "streaming_tiers[0].streams: must be at least 1"),
    ({"limit_mode": "turtle"}, "limit_mode: must be one of global, alternative"),
    ({"stream_overhead_factor": 0.5}, "stream_overhead_factor: must be at least 1"),
    ({"min_upload_kbps": 0}, "min_upload_kbps: must be at least 1"),
    ({"dynamic_deadband_percent": 101}, "dynamic_deadband_percent: must be between 0 and 100"),
    ({"plex_events": "yes"}, "plex_events: must be true or false"),
]


@pytest.mark.parametrize("extra,message", STATUS_AND_NOTIFY)
def test_newer_settings_are_validated_too(tmp_path, extra, message):
    (line,) = problems(tmp_path, {**VALID, **extra})
    assert message in line, line


def test_status_on_loopback_or_with_a_token_is_fine(tmp_path):
    assert load_settings(write(tmp_path, {**VALID, "status_listen": "127.0.0.1:9911"}), {}).status_listen
    s = load_settings(write(tmp_path, {**VALID, "status_listen": "0.0.0.0:9911"}), {"PLEX_HELPER_STATUS_TOKEN": "tok"})
    assert s.status_token == "tok"


def test_notification_tokens_count_as_secrets(tmp_path):
    target = {"type": "telegram", "bot_token": "123456:SECRET_bot_token", "chat_id": "42"}
    s = load_settings(write(tmp_path, {**VALID, "notify": [target]}), {})
    assert "123456:SECRET_bot_token" in s.secrets()
    assert "SECRET_bot_token" not in repr(s)
