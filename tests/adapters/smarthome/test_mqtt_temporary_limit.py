"""The whole daemon with `mqtt`, a real Mosquitto and a real qbittorrent-nox: Home Assistant's
temporary upload limit holds the client's upload within one poll (the poll interval is 10 minutes
here) and /health shows it with its label; it ends when cleared."""
import json

import pytest

from tests.application.daemon import start, stop, wait_until
from tests.application.fault_support import QbtWebClient
from tests.support.mosquitto_broker import HomeAssistantStandIn
from tests.support.status_http import TOKEN, free_port, get, send

pytest.importorskip("paho.mqtt.client")
KIB = 1024


def test_home_assistants_temporary_limit_reaches_a_real_qbittorrent(tmp_path, plex_server, qbt_nox, mosquitto):
    qbt = QbtWebClient(qbt_nox)
    qbt.set_upload_limit(0)
    port = free_port()
    config = {
        "media_servers": [{"name": "plex", "type": "plex", "url": plex_server.url, "token": plex_server.token,
                           "events": False}],
        "download_clients": [{"name": "seedbox", "type": "qbittorrent", "url": qbt_nox.url,
                              "username": qbt_nox.username, "password": qbt_nox.password}],
        "streaming_upload_kbps": 500, "poll_interval_sec": 600, "http_timeout_sec": 2,
        "state_dir": str(tmp_path / "state"), "status_listen": "127.0.0.1:%d" % port, "status_token": TOKEN,
        "mqtt": {"url": mosquitto.url, "username": mosquitto.user, "password": mosquitto.password},
    }
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config))
    path.chmod(0o600)
    base = "http://127.0.0.1:%d" % port
    ha = HomeAssistantStandIn(mosquitto, ["homeassistant/#", "plex-helper/#"])
    process = start("--config", str(path))
    try:
        assert ha.wait_for("homeassistant/number/plex-helper/temporary_limit_upload/config", timeout=20)
        assert ha.wait_for("plex-helper/mode/state", b"auto")
        ha.publish("plex-helper/temporary_limit_upload/set", '{"kib": 250, "minutes": 30}')
        assert wait_until(lambda: qbt.upload_limit() == 250 * KIB, timeout=10)
        limits = json.loads(get(base + "/health")[1])["temporary_limits"]
        assert [(t["direction"], t["kib"], t["label"]) for t in limits] == [("upload", 250, "Home Assistant")]
        assert ha.wait_for("plex-helper/temporary_limit_upload/state", b"250")
        assert send("DELETE", base + "/override?direction=upload")[0] == 200
        assert wait_until(lambda: qbt.upload_limit() == 0, timeout=10)  # the user's own, as found
    finally:
        out, err = stop(process)
        ha.close()
    assert "Home Assistant: temporary upload limit 250 KiB/s for 30 min" in out + err, out + err
    assert mosquitto.password not in out + err and TOKEN not in out + err
