"""A temporary limit on a running daemon, through real HTTP and the CLI: applied within one poll
(the poll interval here is 10 minutes: the change itself asks for an observation), shown in /health
with its label and end, kept across a restart, and never above the user's own limit."""
import json
import signal

import pytest

from tests.application.daemon import run, start, wait_until, write_config
from tests.support.status_http import TOKEN, free_port, get, send

KIB = 1024
VIDEO_CALL = {"direction": "upload", "kib": "1 MB/s", "minutes": 45, "label": "video call"}


@pytest.fixture
def daemon_for(tmp_path, plex_server, fake_qbt):
    processes = []

    def started(**config):
        port = free_port()
        path = write_config(tmp_path, plex_server, fake_qbt, poll_interval_sec=600, status_listen="127.0.0.1:%d" % port,
                            status_token=TOKEN, state_dir=str(tmp_path / "state"), plex_events=False, **config)
        process = start("--config", path)
        processes.append(process)
        base = "http://127.0.0.1:%d" % port
        assert wait_until(lambda: get(base + "/health")[0] == 200, timeout=10), process
        return base, path, process

    yield started
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=10)


def health(base):
    return json.loads(get(base + "/health")[1])


def test_a_temporary_limit_applies_at_once_shows_with_its_label_and_survives_a_restart(daemon_for, fake_qbt):
    base, path, process = daemon_for()
    assert send("POST", base + "/override", json.dumps(VIDEO_CALL).encode(), token="")[0] == 401
    bad = dict(VIDEO_CALL, kib="1 mb/s")
    status, answer = send("POST", base + "/override", json.dumps(bad).encode())
    assert status == 400 and "kib" in answer["error"] and "ambiguous" in answer["error"]
    status, answer = send("POST", base + "/override", json.dumps(dict(VIDEO_CALL, direction="sideways")).encode())
    assert status == 400 and "direction" in answer["error"]
    status, answer = send("POST", base + "/override", json.dumps(VIDEO_CALL).encode())
    assert status == 200, answer
    assert answer["temporary_limits"][0]["kib"] == 976 and answer["temporary_limits"][0]["label"] == "video call"
    assert wait_until(lambda: fake_qbt.upload_limit == 976 * KIB, timeout=5)  # nobody streams: held all the same
    shown = health(base)
    assert shown["temporary_limits"][0]["label"] == "video call" and shown["budgets"]["upload"] == 976
    assert shown["clients"][0]["limits"]["upload"]["kib"] == 976 and shown["effective_state"] == "idle"

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert "temporary limit: upload at 976 KiB/s" in stderr and "(video call)" in stderr
    assert fake_qbt.upload_limit == 0  # restored on exit
    base, path, process = daemon_for()
    assert wait_until(lambda: fake_qbt.upload_limit == 976 * KIB, timeout=10)  # it came back
    shown = run("override", "show", "--config", path)
    assert "temporary upload limit: 976 KiB/s until " in shown.stdout and "(video call)" in shown.stdout
    status, answer = send("DELETE", base + "/override?direction=upload")
    assert status == 200 and answer["temporary_limits"] == []
    assert wait_until(lambda: fake_qbt.upload_limit == 0, timeout=5)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert "temporary limit restored: upload at 976 KiB/s" in stderr and TOKEN not in stderr


def test_the_cli_sets_one_with_a_unit_and_it_never_raises_the_users_own_limit(daemon_for, fake_qbt):
    fake_qbt.upload_limit = 300 * KIB  # the user's own cap
    base, path, _ = daemon_for(idle_upload_kbps=None)
    result = run("override", "upload", "--limit", "8 Mbit/s", "--minutes", "5", "--label", "backup", "--config", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("temporary upload limit: 976 KiB/s until ") and "(backup)" in result.stdout
    assert wait_until(lambda: health(base)["temporary_limits"], timeout=5)
    assert wait_until(lambda: health(base)["clients"][0]["limits"]["upload"]["own"] is True, timeout=5)
    assert fake_qbt.upload_limit == 300 * KIB  # 976 would raise it: the user's own stays
    missing = run("override", "download", "--config", path)
    assert missing.returncode == 2 and "--limit" in missing.stderr
    cleared = run("override", "clear", "--config", path)
    assert cleared.returncode == 0 and wait_until(lambda: not health(base)["temporary_limits"], timeout=5)
