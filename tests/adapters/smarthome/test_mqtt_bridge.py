"""The Home Assistant bridge against a real Mosquitto: retained discovery, commands, a broker restart,
a wrong password. A paho subscriber stands in for Home Assistant."""
import json
import logging
import threading
import time

import pytest

from adapters.smarthome.mqtt import MqttBridge, parse_broker_url
from domain.policies import SpeedLimit
from domain.sessions import PlaybackSession
from domain.state import MachineState, StreamState
from domain.throttle import Decision
from domain.tick_report import ClientResult, TickReport
from tests.support.mosquitto_broker import HomeAssistantStandIn

pytest.importorskip("paho.mqtt.client")

CLIENTS = (("qbittorrent", "upload"),)
REMOTE = PlaybackSession(state="playing", local=False, location="wan", user="friend")


class RecordingOverrides:
    """The override side of the status backend, recording what it is asked."""

    def __init__(self):
        self.calls = []
        self.called = threading.Event()

    def set_override(self, state, minutes):
        self.calls.append(("set", state, minutes))
        self.called.set()
        return {}

    def clear_override(self):
        self.calls.append(("clear",))
        self.called.set()
        return {}


def streaming_tick(budget=500, remote=(REMOTE,)):
    state = MachineState(StreamState.STREAMING)
    decision = Decision(state, state, remote, (), StreamState.STREAMING, SpeedLimit(budget), None, False)
    return TickReport(decision, (), (ClientResult("qbittorrent", target=SpeedLimit(budget)),))


@pytest.fixture
def bridge_for(mosquitto):
    made = []

    def make(**kwargs):
        kwargs.setdefault("username", mosquitto.user)
        kwargs.setdefault("password", mosquitto.password)
        bridge = MqttBridge(mosquitto.url, kwargs.pop("overrides", None) or RecordingOverrides(), CLIENTS,
                            version="1.2.3", reconnect_delay=(1, 1), **kwargs)
        made.append(bridge)
        bridge.start()
        return bridge

    yield make
    for bridge in made:
        bridge.stop()


@pytest.fixture
def home_assistant(mosquitto):
    stand_ins = []

    def make(topics=("homeassistant/#", "plex-helper/#")):
        stand_in = HomeAssistantStandIn(mosquitto, list(topics))
        stand_ins.append(stand_in)
        return stand_in

    yield make
    for stand_in in stand_ins:
        stand_in.close()


def test_discovery_is_published_retained_and_reads_as_home_assistant_expects(bridge_for, home_assistant):
    bridge = bridge_for()
    assert bridge.connected_event.wait(10)
    bridge.report(streaming_tick())
    ha = home_assistant()  # subscribes after the bridge published: it gets the retained messages
    assert ha.wait_for("plex-helper/remote_streams/state", b"1")
    assert ha.wait_for("plex-helper/availability", b"online")
    assert ha.wait_for("plex-helper/remote_streaming/state", b"ON")
    assert ha.wait_for("plex-helper/limit_qbittorrent_upload/state", b"500")
    for component, object_id in [("binary_sensor", "remote_streaming"), ("select", "mode"), ("number", "duration")]:
        assert ha.wait_for("homeassistant/%s/plex-helper/%s/config" % (component, object_id))
    configs = {t: json.loads(p) for t, p in ha.last.items() if t.endswith("/config")}
    by_component = {}
    for topic, config in configs.items():
        prefix, component, node, object_id, _ = topic.split("/")
        assert (prefix, node) == ("homeassistant", "plex-helper")
        assert config["unique_id"] == "plex-helper_" + object_id
        assert ha.retained[topic]
        by_component.setdefault(component, set()).add(object_id)
    assert by_component["binary_sensor"] == {"remote_streaming"}
    assert {"remote_streams", "budget_upload", "limit_qbittorrent_upload"} <= by_component["sensor"]
    assert by_component["select"] == {"mode"}
    assert by_component["number"] == {"duration"}  # no temporary-limit feature given
    mode = configs["homeassistant/select/plex-helper/mode/config"]
    assert mode["command_topic"] == "plex-helper/mode/set" and mode["state_topic"] == "plex-helper/mode/state"


def test_commands_reach_the_override_and_the_temporary_limit(bridge_for, home_assistant):
    overrides = RecordingOverrides()
    limits = []
    got_limit = threading.Event()
    bridge = bridge_for(overrides=overrides, set_temporary_limit=lambda *a: (limits.append(a), got_limit.set()))
    assert bridge.connected_event.wait(10)
    ha = home_assistant()
    ha.publish("plex-helper/duration/set", "15")
    assert ha.wait_for("plex-helper/duration/state", b"15")
    ha.publish("plex-helper/mode/set", "force streaming")
    assert overrides.called.wait(10)
    assert overrides.calls == [("set", "streaming", 15.0)]
    assert ha.wait_for("plex-helper/mode/state", b"force streaming")
    ha.publish("plex-helper/temporary_limit_upload/set", '{"kib": 250, "minutes": 5}')
    assert got_limit.wait(10)
    assert limits == [("upload", 250, 5.0, "Home Assistant")]
    overrides.called.clear()
    ha.publish("plex-helper/mode/set", "auto")
    assert overrides.called.wait(10) and overrides.calls[-1] == ("clear",)


def test_a_bad_command_is_one_warning_and_changes_nothing(bridge_for, home_assistant, caplog):
    overrides = RecordingOverrides()
    bridge = bridge_for(overrides=overrides)
    assert bridge.connected_event.wait(10)
    ha = home_assistant()
    with caplog.at_level(logging.WARNING, logger="plex_helper.mqtt"):
        ha.publish("plex-helper/mode/set", "turbo")
        ha.publish("plex-helper/temporary_limit_upload/set", "300")  # not offered by this build
        ha.publish("plex-helper/duration/set", "5")
        assert ha.wait_for("plex-helper/duration/state", b"5")
    assert overrides.calls == []
    assert "ignored: must be one of auto" in caplog.text


def test_a_restarted_broker_is_reconnected_and_everything_republished(mosquitto, bridge_for, home_assistant, caplog):
    bridge = bridge_for()
    assert bridge.connected_event.wait(10)
    bridge.report(streaming_tick(budget=700))
    with caplog.at_level(logging.INFO, logger="plex_helper.mqtt"):
        mosquitto.restart()  # no persistence: the broker forgot every retained message
        deadline = time.monotonic() + 15
        while bridge.connections < 2 and time.monotonic() < deadline:
            bridge.connected_event.wait(0.2)
        assert bridge.connections == 2, caplog.text
    ha = home_assistant()
    assert ha.wait_for("plex-helper/budget_upload/state", b"700")
    assert ha.wait_for("homeassistant/select/plex-helper/mode/config")
    assert "lost the MQTT broker mqtt://127.0.0.1:%d; reconnecting" % mosquitto.port in caplog.text


def test_home_assistant_coming_online_gets_everything_again(bridge_for, home_assistant):
    bridge = bridge_for()
    assert bridge.connected_event.wait(10)
    ha = home_assistant()
    assert ha.wait_for("homeassistant/select/plex-helper/mode/config")
    ha.forget()
    ha.publish("homeassistant/status", "online")
    assert ha.wait_for("homeassistant/select/plex-helper/mode/config")


def test_a_wrong_password_is_one_error_and_report_never_waits(mosquitto, bridge_for, caplog):
    with caplog.at_level(logging.DEBUG, logger="plex_helper.mqtt"):
        bridge = bridge_for(password="wrong-PASS-91")
        deadline = time.monotonic() + 15
        started = time.monotonic()
        polls = 0
        while bridge.refused < 2 and time.monotonic() < deadline:  # the poll loop goes on meanwhile
            bridge.report(streaming_tick())
            polls += 1
            time.sleep(0.05)
        assert bridge.refused >= 2
    elapsed = time.monotonic() - started
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, caplog.text
    assert errors[0].getMessage() == (
        "the MQTT broker mqtt://127.0.0.1:%d refused the login (check mqtt.username and mqtt.password); "
        "retrying quietly" % mosquitto.port)
    assert errors[0].exc_info is None
    assert "wrong-PASS-91" not in caplog.text
    assert polls >= elapsed / 0.06 * 0.5  # report() returned at once every time


@pytest.mark.parametrize("url, expected", [
    ("mqtt://broker", ("broker", 1883, False)), ("mqtts://broker", ("broker", 8883, True)),
    ("mqtt://10.0.0.2:1884", ("10.0.0.2", 1884, False)),
])
def test_broker_urls(url, expected):
    assert parse_broker_url(url) == expected


@pytest.mark.parametrize("url", [
    "http://broker", "mqtt://", "mqtt://u:p@broker", "mqtt://broker/x", "mqtt://broker:99999",
])
def test_bad_broker_urls(url):
    with pytest.raises(ValueError):
        parse_broker_url(url)


def test_stop_says_offline_retained(mosquitto, home_assistant):
    bridge = MqttBridge(mosquitto.url, RecordingOverrides(), CLIENTS, username=mosquitto.user,
                        password=mosquitto.password, reconnect_delay=(1, 1))
    bridge.start()
    try:
        assert bridge.connected_event.wait(10)
    finally:
        bridge.stop()
    ha = home_assistant()
    assert ha.wait_for("plex-helper/availability", b"offline")
    assert ha.retained["plex-helper/availability"]
