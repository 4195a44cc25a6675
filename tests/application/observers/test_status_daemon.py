"""The status server of a running daemon, through real HTTP: health, metrics, webhook, override."""
import json
import shutil
import signal
import socket
import urllib.error
import urllib.request

import pytest

from tests.application.daemon import run, start, stop, wait_until, write_config
from tests.support.plex_payloads import remote_movie
from tests.support.status_http import TOKEN, free_port, get, send

KIB = 1024


@pytest.fixture
def qbt(fake_qbt):
    return fake_qbt


@pytest.fixture
def daemon(tmp_path, plex_server, qbt):
    port = free_port()
    path = write_config(
        tmp_path, plex_server, qbt, poll_interval_sec=600, streaming_threshold=1, idle_threshold=1,
        status_listen="127.0.0.1:%d" % port, status_token=TOKEN, state_dir=str(tmp_path / "state"), plex_events=False,
        status_allowed_hosts=["nas.home.arpa"],
    )
    process = start("--config", path)
    base = "http://127.0.0.1:%d" % port
    try:
        assert wait_until(lambda: get(base + "/health")[0] in (200, 503), timeout=10), process
        yield base, path, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.communicate(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()


def test_health_reports_both_sides(daemon):
    base, _, _ = daemon
    assert wait_until(lambda: get(base + "/health")[0] == 200, timeout=5)  # after the first poll
    status, body = get(base + "/health")
    health = json.loads(body)
    assert status == 200, health
    assert health["state"] == "idle" and health["remote_streams"] == 0 and health["upload_limit_kib"] == 0
    assert health["plex"]["reachable"] and health["qbittorrent"]["reachable"]
    assert health["plex"]["latency_ms"] is not None and health["override"] is None


def test_health_is_503_when_a_side_fails(daemon, qbt):
    base, _, _ = daemon
    qbt.go_down()
    status, _ = send("POST", base + "/override", json.dumps({"state": "streaming", "minutes": 5}).encode())
    assert status == 200
    assert wait_until(lambda: get(base + "/health")[0] == 503, timeout=5)
    health = json.loads(get(base + "/health")[1])
    assert not health["qbittorrent"]["reachable"] and "qBittorrent not reachable" in health["qbittorrent"]["last_error"]


def test_metrics_parse_as_prometheus_text(daemon):
    parser = pytest.importorskip("prometheus_client.parser")
    base, _, _ = daemon
    assert wait_until(lambda: 'plex_helper_state{state="idle"} 1' in get(base + "/metrics")[1], timeout=5)
    status, text = get(base + "/metrics")
    assert status == 200
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    for name in ("plex_helper_state", "plex_helper_remote_streams", "plex_helper_upload_limit_bytes",
                 "plex_helper_transitions", "plex_helper_poll_errors", "plex_helper_poll_duration_seconds",
                 "plex_helper_build_info"):
        assert name in families, sorted(families)
    state = {s.labels["state"]: s.value for s in families["plex_helper_state"].samples}
    assert state["idle"] == 1 and state["streaming"] == 0


def test_a_plex_webhook_triggers_an_observation(daemon, plex_server, qbt):
    base, _, _ = daemon
    plex_server.set_sessions([remote_movie()])
    boundary = "----PlexBoundary7MA4YWxkTrZu0gW"
    payload = json.dumps({"event": "media.play", "Account": {"title": "friend"}, "Player": {"local": False}})
    body = (
        "--%s\r\nContent-Disposition: form-data; name=\"payload\"\r\nContent-Type: application/json\r\n\r\n%s\r\n--%s--\r\n"
        % (boundary, payload, boundary)
    ).encode()
    status, answer = send("POST", base + "/webhook", body, content_type="multipart/form-data; boundary=" + boundary)
    assert status == 200 and answer["triggered"] is True
    assert wait_until(lambda: qbt.upload_limit == 500 * KIB, timeout=5)


def test_override_needs_the_token_applies_at_once_and_survives_a_restart(daemon, tmp_path, plex_server, qbt):
    base, path, process = daemon
    body = json.dumps({"state": "streaming", "minutes": 90}).encode()
    assert send("POST", base + "/override", body, token="")[0] == 401
    assert send("POST", base + "/override", body, token="wrong")[0] == 401
    assert send("POST", base + "/override", json.dumps({"state": "sideways", "minutes": 1}).encode())[0] == 400
    status, answer = send("POST", base + "/override", body)
    assert status == 200 and answer["override"]["state"] == "streaming"
    assert wait_until(lambda: qbt.upload_limit == 500 * KIB, timeout=5)
    health = json.loads(get(base + "/health")[1])
    assert health["override"]["state"] == "streaming" and health["effective_state"] == "streaming"

    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=10)
    assert "override: streaming for 90 min" in stderr
    assert qbt.upload_limit == 0  # restore_on_exit
    again = start("--config", path)
    try:
        assert wait_until(lambda: qbt.upload_limit == 500 * KIB, timeout=10)  # the override came back
        result = run("override", "clear", "--config", path)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == ("override and temporary limits cleared: plex-helper follows the media "
                                         "servers again")
        assert wait_until(lambda: qbt.upload_limit == 0, timeout=5)
    finally:
        again.send_signal(signal.SIGTERM)
        _, stderr = again.communicate(timeout=10)
    assert "override restored: streaming until" in stderr
    assert TOKEN not in stderr


def test_override_cli(daemon, qbt):
    _, path, _ = daemon
    result = run("override", "streaming", "--minutes", "30", "--config", path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("override: streaming until ")
    assert wait_until(lambda: qbt.upload_limit == 500 * KIB, timeout=5)
    shown = run("override", "show", "--config", path)
    assert shown.stdout.startswith("override: streaming until ")


def test_override_cli_without_a_daemon(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt, status_listen="127.0.0.1:%d" % free_port())
    result = run("override", "idle", "--config", path)
    assert result.returncode == 1
    assert "not reachable" in result.stderr and "Traceback" not in result.stderr


def test_override_cli_without_status_listen(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt)
    result = run("override", "idle", "--config", path)
    assert result.returncode == 2 and "status_listen is not set" in result.stderr


def test_the_flap_guard_shows_in_health_and_the_log(tmp_path, plex_server, qbt):
    port = free_port()
    path = write_config(
        tmp_path, plex_server, qbt, poll_interval_sec=1, streaming_threshold=1, idle_threshold=1,
        max_transitions_per_hour=2, status_listen="127.0.0.1:%d" % port, plex_events=False,
        state_dir=str(tmp_path / "state"),
    )
    base = "http://127.0.0.1:%d" % port
    plex_server.set_sessions([remote_movie()])
    process = start("--config", path)
    try:
        assert wait_until(lambda: qbt.upload_limit == 500 * KIB, timeout=5)  # the first decision
        for sessions, limit in (([], 0), ([remote_movie()], 500 * KIB)):  # two switches
            plex_server.set_sessions(sessions)
            assert wait_until(lambda: qbt.upload_limit == limit, timeout=5)
        plex_server.set_sessions([])  # a third switch is held: stays throttled
        assert wait_until(lambda: json.loads(get(base + "/health")[1] or "{}").get("flap_guard_holding") is True, timeout=5)
        assert qbt.upload_limit == 500 * KIB
    finally:
        _, stderr = stop(process)
    assert "max_transitions_per_hour reached: staying throttled" in stderr


def test_a_taken_status_port_is_one_clear_line_and_exit_2(tmp_path, plex_server, qbt):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        path = write_config(tmp_path, plex_server, qbt, status_listen="127.0.0.1:%d" % port, plex_events=False)
        result = run("--config", path)
    assert result.returncode == 2, result.stderr
    assert "status server cannot listen on 127.0.0.1:%d" % port in result.stderr
    assert "Traceback" not in result.stderr


def test_an_override_that_could_not_survive_a_restart_is_refused(tmp_path, daemon):
    base, _, _ = daemon
    state_dir = tmp_path / "state"
    shutil.rmtree(state_dir, ignore_errors=True)
    state_dir.write_text("")  # not a directory (tests run as root, so modes would not stop a write)
    status, body = send("POST", base + "/override", json.dumps({"state": "streaming", "minutes": 5}).encode())
    assert status == 503, body
    assert "could not save" in body["error"] and "override.json" in body["error"]
    assert json.loads(get(base + "/health")[1])["override"] is None  # refused, not half-kept


def test_the_page_the_history_and_one_record_per_server_and_client(daemon):
    base, _, _ = daemon
    status, page = get(base + "/")
    assert status == 200 and page.lstrip().lower().startswith("<!doctype html")
    assert wait_until(lambda: json.loads(get(base + "/health")[1])["history"]["enabled"], timeout=10)
    health = json.loads(get(base + "/health")[1])
    assert [s["name"] for s in health["servers"]] == ["plex"] and health["servers"][0]["type"] == "plex"
    assert [c["name"] for c in health["clients"]] == ["qbittorrent"]
    assert health["why"] == "no remote streams"
    assert wait_until(lambda: json.loads(get(base + "/api/history?since=0")[1])["states"], timeout=10)
    history = json.loads(get(base + "/api/history?since=0")[1])
    assert history["states"][0]["to"] == "idle"
    assert get(base + "/api/history?since=yesterday")[0] == 400


# --- nothing on the LAN, nor a page elsewhere, steers the daemon ----------------------------------------

def request(method, url, body=None, headers=None):
    req = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"{}")


def test_the_daemon_refuses_other_hosts_and_origins_and_answers_every_webhook(daemon, qbt):
    from tests.support.webhook_payloads import NON_PLAYBACK

    base, _, _ = daemon
    port = base.rsplit(":", 1)[1]
    status, answer = request("GET", base + "/health", headers={"Host": "rebind.example:" + port})
    assert status == 421 and "status_allowed_hosts" in answer["error"]
    assert request("GET", base + "/health", headers={"Host": "nas.home.arpa"})[0] in (200, 503)  # configured
    body = json.dumps({"state": "streaming", "minutes": 90}).encode()
    auth = {"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"}
    status, _ = request("POST", base + "/override", body, dict(auth, Origin="http://127.0.0.2:8000"))
    assert status == 403
    assert request("POST", base + "/override", body, dict(auth, **{"Content-Type": "text/plain"}))[0] == 415
    for name, (content_type, payload) in NON_PLAYBACK.items():
        status, answer = request("POST", base + "/webhook?token=" + TOKEN, payload, {"Content-Type": content_type})
        assert (status, answer["triggered"]) == (200, False), name
    assert json.loads(get(base + "/health")[1])["override"] is None


def test_check_prints_the_host_names_served(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt, status_listen="127.0.0.1:%d" % free_port(),
                        status_allowed_hosts=["nas.home.arpa"])
    result = run("--check", "--config", path)
    line = next((l for l in result.stdout.splitlines() if l.startswith("status server: answers the host names")), None)
    assert line is not None, result.stdout + result.stderr
    assert "127.0.0.1" in line and "localhost" in line and "nas.home.arpa" in line and socket.gethostname().lower() in line
