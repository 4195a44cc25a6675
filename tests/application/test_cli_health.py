"""`--health` asks a real running daemon's status server (the container health check),
`override --minutes` refuses bad values as a usage error, and a config handed over as a systemd
credential gets no false "chmod 600" warning."""
import json
import os

import pytest

from tests.application.daemon import run, start, stop, wait_until, write_config
from tests.support.ports import free_port

TOKEN = "status-TOKEN-5e1f"


@pytest.fixture
def qbt(fake_qbt):
    return fake_qbt


def health(path):
    return run("--config", path, "--health", timeout=20)


def test_health_follows_the_running_daemon(tmp_path, plex_server, qbt):
    port = free_port()
    path = write_config(
        tmp_path, plex_server, qbt, poll_interval_sec=1, status_listen="0.0.0.0:%d" % port, status_token=TOKEN,
        state_dir=str(tmp_path / "state"), plex_events=False,
    )
    # nobody listening yet: unreachable is unhealthy, with one line and no traceback
    result = health(path)
    assert result.returncode == 1, result
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "not reachable at http://127.0.0.1:%d" % port in result.stderr

    process = start("--config", path)
    try:
        assert wait_until(lambda: health(path).returncode == 0, timeout=15), stop(process)
        result = health(path)
        assert result.stdout == "plex-helper is healthy: state idle, 0 remote stream(s)\n", result
        assert result.stderr == ""

        plex_server.set_status(500)  # Plex fails: /health answers 503 once it has been failing
        assert wait_until(lambda: health(path).returncode == 1, timeout=15), stop(process)
        result = health(path)
        assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
        assert result.stderr.startswith("plex-helper is unhealthy: Plex 'plex': "), result.stderr
        assert "Traceback" not in result.stderr and TOKEN not in result.stderr
        assert plex_server.token not in result.stderr
    finally:
        _, stderr = stop(process)
    assert process.returncode == 0, stderr
    assert health(path).returncode == 1  # stopped: unreachable again


def test_health_without_a_status_server_is_a_config_error(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt)
    result = health(path)
    assert result.returncode == 2
    assert result.stderr == "%s: status_listen is not set, so the daemon has no endpoint to talk to\n" % path


def test_health_with_a_bad_status_listen_exits_2(tmp_path, plex_server, qbt):
    path = write_config(tmp_path, plex_server, qbt, status_listen="nowhere")
    result = health(path)
    assert result.returncode == 2
    assert result.stderr.startswith("%s: status_listen: must be host:port" % path), result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert run("--config", str(tmp_path / "none.json"), "--health").returncode == 2


def test_health_reads_only_the_status_fields(tmp_path, plex_server, qbt):
    """A field the daemon would refuse, or a missing secret, is the daemon's business, not the check's."""
    path = write_config(tmp_path, plex_server, qbt, status_listen="127.0.0.1:%d" % free_port(), poll_interval_sec="x")
    result = health(path)
    assert result.returncode == 1 and "not reachable" in result.stderr, result.stderr


def only_the_status_fields(tmp_path, port, **fields):
    path = tmp_path / "status-only.json"
    path.write_text(json.dumps(dict({"status_listen": "127.0.0.1:%d" % port}, **fields)))
    os.chmod(path, 0o600)
    return str(path)


@pytest.mark.parametrize("minutes", ["0", "-5", "10081", "nan", "inf", "soon"])
def test_override_minutes_out_of_range_is_a_usage_error(tmp_path, plex_server, qbt, minutes):
    path = write_config(tmp_path, plex_server, qbt, status_listen="127.0.0.1:%d" % free_port())
    result = run("--config", path, "override", "streaming", "--minutes", minutes)
    assert result.returncode == 2, result
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith("usage: "), result.stderr
    assert lines[-1].startswith("plex-helper override: error: argument --minutes: "), result.stderr
    assert "Traceback" not in result.stderr


def test_override_accepts_a_week(tmp_path, plex_server, qbt):
    port = free_port()
    path = write_config(
        tmp_path, plex_server, qbt, poll_interval_sec=600, status_listen="127.0.0.1:%d" % port, status_token=TOKEN,
        state_dir=str(tmp_path / "state"), plex_events=False,
    )
    # what a shell or a container's health command has: no Plex token, no client password
    status_only = only_the_status_fields(tmp_path, port, status_token=TOKEN)
    token_file = tmp_path / "status_token"
    token_file.write_text(TOKEN + "\n")
    (tmp_path / "listen-only").mkdir()
    listen_only = only_the_status_fields(tmp_path / "listen-only", port)
    process = start("--config", path)
    try:
        assert wait_until(lambda: health(status_only).returncode == 0, timeout=15), stop(process)
        result = run("--config", status_only, "override", "streaming", "--minutes", "10080")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("override: streaming until "), result.stdout
        # the token from a file, as a systemd credential or a container secret hands it over
        result = run("override", "clear", "--config", listen_only, PLEX_HELPER_STATUS_TOKEN_FILE=str(token_file))
        assert result.returncode == 0, result.stderr
        assert run("override", "idle", "--config", listen_only).returncode == 1  # without the token: refused
    finally:
        stop(process)


def test_a_config_in_the_credentials_directory_gives_no_chmod_warning(tmp_path, plex_server, qbt):
    """systemd's credential copy may show group bits (an ACL grants the service's user read access)."""
    credentials = tmp_path / "credentials"
    credentials.mkdir()
    path = write_config(credentials, plex_server, qbt)
    os.chmod(path, 0o440)
    result = run("--config", path, "--once", CREDENTIALS_DIRECTORY=str(credentials))
    assert result.returncode == 0, result.stderr
    assert "chmod" not in result.stderr
    # the same file anywhere else does get the warning
    result = run("--config", path, "--once", CREDENTIALS_DIRECTORY=str(tmp_path / "elsewhere"))
    assert "holds secrets and other users can read it" in result.stderr
