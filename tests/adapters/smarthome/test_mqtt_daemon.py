"""The whole daemon with `mqtt` configured, against a real Mosquitto and a real qbittorrent-nox:
Home Assistant's mode select forces a throttle; a wrong broker password is one clear ERROR while
the loop polls on."""
import json

import pytest

from tests.application.daemon import start, stop, wait_until
from tests.application.fault_support import QbtWebClient
from tests.support.mosquitto_broker import HomeAssistantStandIn

pytest.importorskip("paho.mqtt.client")
KIB = 1024


def write_config(tmp_path, plex, qbt, broker, **mqtt):
    config = {
        "media_servers": [{"name": "plex", "type": "plex", "url": plex.url, "token": plex.token, "events": False}],
        "download_clients": [{"name": "seedbox", "type": "qbittorrent", "url": qbt.url, "username": qbt.username,
                              "password": qbt.password}],
        "streaming_upload_kbps": 500, "idle_upload_kbps": 0, "poll_interval_sec": 1, "streaming_threshold": 1,
        "idle_threshold": 1, "http_timeout_sec": 2, "state_dir": str(tmp_path / "state"),
        "mqtt": dict({"url": broker.url, "username": broker.user, "password": broker.password}, **mqtt),
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    return str(path)


def test_the_mode_select_forces_a_throttle_on_a_real_qbittorrent(tmp_path, plex_server, qbt_nox, mosquitto):
    qbt = QbtWebClient(qbt_nox)
    qbt.set_upload_limit(0)
    ha = HomeAssistantStandIn(mosquitto, ["homeassistant/#", "plex-helper/#"])
    process = start("--config", write_config(tmp_path, plex_server, qbt_nox, mosquitto))
    try:
        assert ha.wait_for("plex-helper/mode/state", b"auto", timeout=20)
        assert ha.wait_for("homeassistant/select/plex-helper/mode/config")
        assert ha.wait_for("plex-helper/remote_streaming/state", b"OFF")
        assert qbt.upload_limit() == 0
        ha.publish("plex-helper/mode/set", "force streaming")
        assert wait_until(lambda: qbt.upload_limit() == 500 * KIB, timeout=10)
        assert ha.wait_for("plex-helper/remote_streaming/state", b"ON")
        assert ha.wait_for("plex-helper/limit_seedbox_upload/state", b"500")
        ha.publish("plex-helper/mode/set", "auto")
        assert wait_until(lambda: qbt.upload_limit() == 0, timeout=10)
    finally:
        out, err = stop(process)
        ha.close()
    assert "connected to the MQTT broker" in out + err, out + err
    assert mosquitto.password not in out + err and qbt_nox.password not in out + err


def test_a_wrong_broker_password_is_one_error_and_the_loop_polls_on(tmp_path, plex_server, qbt_nox, mosquitto):
    process = start("--config", write_config(tmp_path, plex_server, qbt_nox, mosquitto, password="wrong-PASS-3"),
                    "--verbose")
    try:
        assert wait_until(lambda: process.poll() is not None, timeout=4.5) is False  # still running
    finally:
        out, err = stop(process)
    lines = (out + err).splitlines()
    errors = [i for i, line in enumerate(lines) if "ERROR" in line]
    assert len(errors) == 1, out + err
    assert "refused the login (check mqtt.username and mqtt.password)" in lines[errors[0]]
    assert "Traceback" not in out + err and "wrong-PASS-3" not in out + err
    assert sum("DEBUG poll:" in line for line in lines[errors[0]:]) >= 2, out + err  # the loop polls on


def test_paho_is_never_imported_without_mqtt():
    import subprocess
    import sys

    from tests.application.daemon import ROOT, environment

    code = (
        "import sys\n"
        "from application.config.settings import Settings\n"
        "from application.container import Container\n"
        "c = Container(settings=Settings(plex_url='http://127.0.0.1:9', plex_token='t',\n"
        "                                qbittorrent_url='http://127.0.0.1:9'))\n"
        "c.daemon()\n"
        "print(sorted(m for m in sys.modules if m.startswith(('paho', 'adapters.smarthome'))))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment(), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
