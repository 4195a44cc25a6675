"""status_token_guards_reading on a running daemon: the page, /metrics and the history need the token,
/health without it answers only its status (a container's health check), --health still works with
the config's token; and the field without a status_token is a config error naming it."""
import json
import signal

from tests.application.daemon import run, start, wait_until, write_config
from tests.support.status_http import TOKEN, free_port, get


def test_reading_needs_the_token_and_health_still_answers_a_health_check(tmp_path, plex_server, fake_qbt):
    port = free_port()
    path = write_config(tmp_path, plex_server, fake_qbt, poll_interval_sec=600, status_listen="127.0.0.1:%d" % port,
                        status_token=TOKEN, status_token_guards_reading=True, state_dir=str(tmp_path / "state"),
                        plex_events=False)
    process = start("--config", path)
    base = "http://127.0.0.1:%d" % port
    try:
        assert wait_until(lambda: get(base + "/health")[0] == 200, timeout=10), process
        assert json.loads(get(base + "/health")[1]) == {"status": "ok"}
        for path_ in ("/", "/metrics", "/api/history"):
            assert get(base + path_)[0] == 401, path_
            assert get(base + path_, token=TOKEN)[0] == 200, path_
        assert json.loads(get(base + "/health", token=TOKEN)[1])["clients"][0]["name"] == "qbittorrent"
        healthy = run("--health", "--config", path)
        assert healthy.returncode == 0 and healthy.stdout.startswith("plex-helper is healthy: state idle")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=10)
    assert TOKEN not in stderr


def test_guarding_reading_without_a_token_is_a_config_error(tmp_path, plex_server, fake_qbt):
    path = write_config(tmp_path, plex_server, fake_qbt, status_listen="127.0.0.1:%d" % free_port(),
                        status_token_guards_reading=True)
    result = run("--check", "--config", path)
    assert result.returncode == 2 and "status_token_guards_reading" in result.stderr and "Traceback" not in result.stderr
