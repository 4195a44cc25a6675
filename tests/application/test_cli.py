import signal
import time

import pytest

from tests.application.daemon import run, start, stop, wait_until, write_config
from tests.support.plex_payloads import lan_track, remote_movie

KIB = 1024


@pytest.fixture
def qbt(fake_qbt):
    return fake_qbt


def test_version():
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.startswith("plex-helper 0.1.0 (build ")


def test_demo_shows_the_scenario():
    result = run("--demo", timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "state idle -> streaming" in out and "state streaming -> idle" in out
    assert "upload limit set to 500 KiB/s" in out and "upload limit set to unlimited" in out
    assert "was set 2 time(s): 500 KiB/s, unlimited" in out
    assert out.rstrip().splitlines()[-2:] == [  # what to do next
        "Next: write /etc/plex-helper/config.json for your servers (see config.example.json; chmod 600, it holds",
        "secrets), then check it: sudo python3 plex-helper.pyz --check",
    ]


def test_help_names_every_kind_and_no_command_is_required():
    result = run("--help")
    assert result.returncode == 0, result.stderr
    usage, text = result.stdout.split("\n\n", 1)
    assert "COMMAND" not in usage and "[run | " not in usage
    assert all(line.startswith(("usage: plex-helper [", "       plex-helper [")) for line in usage.splitlines())
    for kind in ("Plex", "Jellyfin", "Emby", "qBittorrent", "Transmission", "Deluge", "SABnzbd", "NZBGet"):
        assert kind in text, kind
    assert "sudo python3 plex-helper.pyz --check" in text
    for command in ("run", "override"):
        sub = run(command, "--help", COLUMNS="200").stdout
        assert sub.startswith("usage: plex-helper %s " % command), sub
        assert "as above" not in sub and "(default: /etc/plex-helper/config.json)" in sub


def test_run_is_the_daemon_with_its_flags_after_it(tmp_path, plex_server, qbt):
    plex_server.set_sessions([remote_movie()])
    path = write_config(tmp_path, plex_server, qbt)
    result = run("run", "--config", path, "--once", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert qbt.upload_limit != 500 * KIB  # --dry-run after `run` is honoured
    result = run("--config", path, "run", "--once")
    assert result.returncode == 0, result.stderr
    assert qbt.upload_limit == 500 * KIB


def test_state_an_earlier_version_kept_in_the_cache_is_moved_once(tmp_path, plex_server, qbt):
    old, new = tmp_path / "cache" / "plex-helper", tmp_path / "state" / "plex-helper"
    old.mkdir(parents=True)
    (old / "override.json").write_text('{"state": "streaming", "until": 1.0}')
    places = {"HOME": str(tmp_path), "XDG_CACHE_HOME": str(tmp_path / "cache"), "XDG_STATE_HOME": str(tmp_path / "state")}
    path = write_config(tmp_path, plex_server, qbt, state_dir=None)  # the default state directory
    result = run("--config", path, "--once", **places)
    assert result.returncode == 0, result.stderr
    assert "moved the state an earlier version kept in %s to %s (override.json)" % (old, new) in result.stderr
    assert (new / "override.json").exists() and not (old / "override.json").exists()
    assert "moved the state" not in run("--config", path, "--once", **places).stderr


def test_bad_config_exits_2_with_one_line_per_problem_and_no_request(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt, streaming_threshold=0, poll_interval_sec="x")
    result = run("--config", path, "--once")
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == [
        "%s: poll_interval_sec: must be a number" % path,
        "%s: streaming_threshold: must be at least 1" % path,
    ]
    assert "Traceback" not in result.stderr
    assert sum(plex_server.request_count.values()) == 0
    assert qbt.total == 0


def test_missing_config_file_exits_2(tmp_path):
    result = run("--config", str(tmp_path / "none.json"))
    assert result.returncode == 2
    assert result.stderr.strip() == "%s: config file not found" % (tmp_path / "none.json")


def test_once_applies_the_limit_and_exits_0(tmp_path, plex_server, qbt):
    plex_server.set_sessions([remote_movie(), lan_track()])
    result = run("--config", write_config(tmp_path, plex_server, qbt), "--once")
    assert result.returncode == 0, result.stderr
    assert qbt.upload_limit == 500 * KIB
    assert "upload limit set to 500 KiB/s: 1 remote stream (friend)" in result.stderr


def test_once_exits_1_when_plex_cannot_be_reached(tmp_path, plex_server, qbt):
    plex_server.set_status(500)
    result = run("--config", write_config(tmp_path, plex_server, qbt), "--once")
    assert result.returncode == 1
    assert "Plex answered 500" in result.stderr and "Traceback" not in result.stderr


def test_once_exits_1_when_qbittorrent_cannot_be_reached(tmp_path, plex_server, qbt):
    plex_server.set_sessions([remote_movie()])
    qbt.go_down()
    result = run("--config", write_config(tmp_path, plex_server, qbt), "--once")
    assert result.returncode == 1
    assert "qBittorrent not reachable" in result.stderr and "Traceback" not in result.stderr


def test_dry_run_decides_and_logs_but_never_writes(tmp_path, plex_server, qbt):
    plex_server.set_sessions([remote_movie()])
    result = run("--config", write_config(tmp_path, plex_server, qbt), "--once", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "dry run: would set the upload limit to 500 KiB/s" in result.stderr
    assert qbt.upload_limit == 0 and qbt.writes == 0


def test_verbose_logs_each_poll_and_journal_mode_has_no_timestamps(tmp_path, plex_server, qbt):
    result = run("--config", write_config(tmp_path, plex_server, qbt), "--once", "--verbose", JOURNAL_STREAM="8:1234")
    assert result.returncode == 0, result.stderr
    lines = result.stderr.strip().splitlines()
    assert any(line.startswith("<7>DEBUG poll: 0 session(s)") for line in lines), lines
    assert all(line.startswith("<") for line in lines)


def test_sigterm_restores_the_idle_limit_and_exits_0(tmp_path, plex_server, qbt):
    plex_server.set_sessions([remote_movie()])
    process = start("--config", write_config(tmp_path, plex_server, qbt, poll_interval_sec=30))
    try:
        assert wait_until(lambda: qbt.upload_limit == 500 * KIB), "never throttled"
        sent = time.monotonic()
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
        assert time.monotonic() - sent < 3
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert qbt.upload_limit == 0
    assert "upload limit restored to unlimited" in stderr


def test_sigint_with_restore_on_exit_false_leaves_the_limit(tmp_path, plex_server, qbt):
    plex_server.set_sessions([remote_movie()])
    process = start("--config", write_config(tmp_path, plex_server, qbt, restore_on_exit=False))
    try:
        assert wait_until(lambda: qbt.upload_limit == 500 * KIB)
    finally:
        _, stderr = stop(process, signal.SIGINT)
    assert process.returncode == 0, stderr
    assert qbt.upload_limit == 500 * KIB
