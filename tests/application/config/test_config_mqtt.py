"""The optional `mqtt` object: its defaults, PLEX_HELPER_MQTT__<KEY>, password_file, clear errors."""
import pytest

from application.config.load import ConfigError, load_settings
from tests.application.config.test_config import VALID, write

BROKER = {"url": "mqtt://10.0.0.2:1883", "username": "ha", "password": "mqtt-SECRET-1"}


def load(tmp_path, environ=None, **fields):
    return load_settings(write(tmp_path, {**VALID, **fields}), environ or {})


def problems(tmp_path, environ=None, **fields):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, environ, **fields)
    return info.value.problems


def test_off_unless_configured(tmp_path):
    assert load(tmp_path).mqtt is None


def test_defaults_and_secret(tmp_path):
    settings = load(tmp_path, mqtt=BROKER)
    assert (settings.mqtt.url, settings.mqtt.topic_prefix, settings.mqtt.discovery_prefix) == (
        "mqtt://10.0.0.2:1883", "plex-helper", "homeassistant")
    assert "mqtt-SECRET-1" in settings.secrets() and "mqtt-SECRET-1" not in repr(settings)


def test_every_key_from_the_environment(tmp_path):
    secret = tmp_path / "mqtt-password"
    secret.write_text("from-FILE-22\n")
    environ = {"PLEX_HELPER_MQTT__URL": "mqtts://broker.lan", "PLEX_HELPER_MQTT__USERNAME": "u",
               "PLEX_HELPER_MQTT__PASSWORD_FILE": str(secret), "PLEX_HELPER_MQTT__TOPIC_PREFIX": "home/plex",
               "PLEX_HELPER_MQTT__DISCOVERY_PREFIX": "ha"}
    mqtt = load(tmp_path, environ).mqtt
    assert (mqtt.url, mqtt.username, mqtt.password, mqtt.topic_prefix, mqtt.discovery_prefix) == (
        "mqtts://broker.lan", "u", "from-FILE-22", "home/plex", "ha")


@pytest.mark.parametrize("mqtt, line", [
    ({"url": "http://broker"}, "mqtt.url: must be mqtt://host:port or mqtts://host:port"),
    ({"username": "u"}, "mqtt.url: is required"),
    ({"url": "mqtt://b", "topic_prefix": "a/#"}, "mqtt.topic_prefix: must be topic levels"),
    ({"url": "mqtt://b", "colour": 1}, "mqtt.colour: is not a known setting"),
    ({"url": "mqtt://b", "password": "x", "password_file": "/nonexistent"}, "mqtt.password: give password or password_file"),
    ({"url": "mqtt://b", "password_file": "/nonexistent/pw"}, "mqtt.password_file: cannot read /nonexistent/pw"),
])
def test_clear_errors(tmp_path, mqtt, line):
    found = problems(tmp_path, mqtt=mqtt)
    assert any(line in p for p in found), found
    assert all("mqtt-SECRET" not in p for p in found)
