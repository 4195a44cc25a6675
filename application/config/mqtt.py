"""The optional `mqtt` object: the Home Assistant bridge's broker, login and topic prefixes.

Every key may also come from PLEX_HELPER_MQTT__<KEY> (two underscores, like a list entry's
variables), and the password from `password_file` or PLEX_HELPER_MQTT__PASSWORD_FILE.
"""
from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional

from marshmallow import RAISE, Schema, ValidationError

from application.config.fields import StrictString, _header_safe
from application.config.settings import MqttSettings
from application.config.sources import ConfigError, UnreadableFile, read_regular_file

ENV_PREFIX = "PLEX_HELPER_MQTT__"
_TOPIC = re.compile(r"[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*")


def _broker_url(value: str) -> None:
    from adapters.smarthome.mqtt import parse_broker_url  # no paho: that is imported only at start

    try:
        parse_broker_url(value)
    except ValueError as err:
        raise ValidationError(str(err)) from None


def _topic(value: str) -> None:
    if not _TOPIC.fullmatch(value):
        raise ValidationError("must be topic levels of letters, digits, _ . - separated by / (no + or #)")


class MqttSchema(Schema):
    class Meta:
        unknown = RAISE

    url = StrictString(required=True, validate=_broker_url)
    username = StrictString(load_default="", validate=lambda v: _header_safe(v) if v else None)
    password = StrictString(load_default="")
    topic_prefix = StrictString(load_default="plex-helper", validate=_topic)
    discovery_prefix = StrictString(load_default="homeassistant", validate=_topic)


def read_mqtt_sources(raw: Dict[str, Any], environ: Mapping[str, str], source: str) -> Dict[str, Any]:
    """`raw` with PLEX_HELPER_MQTT__<KEY> over its `mqtt` object (made when only the environment
    sets one) and `password_file` read into `password`."""
    variables = sorted(v for v in environ if v.startswith(ENV_PREFIX) and environ[v])
    mqtt = raw.get("mqtt")
    if not variables and not isinstance(mqtt, dict):
        return raw
    mqtt = dict(mqtt) if isinstance(mqtt, dict) else {}
    for variable in variables:
        mqtt[variable[len(ENV_PREFIX):].lower()] = environ[variable]
    problems: List[str] = []
    path = mqtt.pop("password_file", None)
    if path is not None:
        if mqtt.get("password"):
            problems.append("%s: mqtt.password: give password or password_file, not both" % source)
        elif not isinstance(path, str):
            problems.append("%s: mqtt.password_file: must be a file name" % source)
        else:
            try:
                mqtt["password"] = read_regular_file(path).rstrip("\r\n")
            except (FileNotFoundError, UnreadableFile) as exc:
                reason = exc.strerror if isinstance(exc, FileNotFoundError) else str(exc)
                problems.append("%s: mqtt.password_file: cannot read %s: %s" % (source, path, reason))
    if problems:
        raise ConfigError(problems)
    return dict(raw, mqtt=mqtt)


def mqtt_from(data: Optional[Mapping[str, Any]]) -> Optional[MqttSettings]:
    return None if data is None else MqttSettings(**data)
