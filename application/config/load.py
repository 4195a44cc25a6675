"""Loading the JSON config: the file, environment overrides, marshmallow validation against the schema
(application/config/schema.py), one clear line per problem.

Every number has bounds, so nothing the file holds can pass `--check` and then fail at run time.
"""
from __future__ import annotations

import ipaddress
import json
import os
import re
import stat
from typing import Any, Dict, List, Mapping, Optional, Tuple

from marshmallow import ValidationError, fields

from application.config.sources import (
    SECRET_FIELDS,
    ConfigError,
    UnreadableFile,
    apply_environment,
    read_regular_file,
    secret_hint,
)
from application.config.lists import download_clients_from, media_servers_from, read_entry_secrets
from application.config.mqtt import mqtt_from, read_mqtt_sources
from application.config.line import line_meter_from, read_line_meter_sources
from application.config.schema import ConfigSchema
from application.config.settings import Settings

__all__ = ["ConfigError", "load_settings", "permission_warnings"]  # ConfigError lives in config_sources
def _flatten(messages: Any, prefix: str = "") -> List[Tuple[str, str]]:
    """marshmallow's nested error dicts -> (field path, message) pairs."""
    if isinstance(messages, dict):
        pairs = []
        for key, value in messages.items():
            if not prefix:
                name = str(key)
            elif isinstance(key, int):
                name = "%s[%d]" % (prefix, key)
            else:
                name = "%s.%s" % (prefix, key)
            pairs.extend(_flatten(value, name))
        return pairs
    if isinstance(messages, list):
        return [(prefix, str(m)) for m in messages]
    return [(prefix, str(messages))]


_MESSAGE_WORDS = {
    "Missing data for required field.": "is required",
    "Unknown field.": "is not a known setting (a typo?)",
    "Field may not be null.": "must not be null",
    "Not a valid list.": "must be a list",
}


_NESTED_KEY = re.compile(r"^([a-z_]+): ")
_TOP_FIELD = re.compile(r"^[^.\[]*")
_FIELDS = ConfigSchema().fields
_TEXT_FIELDS = frozenset(name for name, f in _FIELDS.items() if isinstance(f, fields.String))


def parse_json(text: str, source: str) -> Dict[str, Any]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(["%s: not valid JSON: %s at line %d column %d" % (source, exc.msg, exc.lineno, exc.colno)]) from None
    except ValueError as exc:  # e.g. an integer of more than 4300 digits
        raise ConfigError(["%s: not valid JSON: %s" % (source, exc)]) from None
    except RecursionError:
        raise ConfigError(["%s: not valid JSON: nested too deeply" % source]) from None
    if not isinstance(raw, dict):
        raise ConfigError(["%s: must hold a JSON object {...} at the top level" % source])
    return raw


def validate_settings(raw: Dict[str, Any], source: str, origins: Optional[Mapping[str, str]] = None) -> Settings:
    """`origins` names the environment variable that set a field, for the error lines."""
    origins = origins or {}
    try:
        data = ConfigSchema().load(raw)
    except ValidationError as exc:
        lines = []
        for field_name, message in _flatten(exc.messages):
            nested = _NESTED_KEY.match(message) if field_name.startswith("notify[") else None
            if nested:  # the notifier names the key inside the target: notify[0].url
                field_name, message = "%s.%s" % (field_name, nested.group(1)), message[nested.end():]
            where = field_name if field_name != "_schema" else "config"
            words = _MESSAGE_WORDS.get(message, message)
            if message == "Missing data for required field." and field_name in SECRET_FIELDS:
                words += " (or set %s)" % secret_hint(field_name)
            variable = origins.get(_TOP_FIELD.match(field_name).group(0))
            origin = "environment %s" % variable if variable else source
            lines.append("%s: %s: %s" % (origin, where, words))
        raise ConfigError(sorted(lines)) from None
    data["count_states"] = tuple(data["count_states"])
    data["ignore_users"] = tuple(data["ignore_users"])
    data["status_allowed_hosts"] = tuple(data["status_allowed_hosts"])
    data["notify"] = tuple(data["notify"])
    data["streaming_tiers"] = tuple((t["streams"], t["upload_kbps"]) for t in data["streaming_tiers"])
    data["lan_networks"] = tuple(ipaddress.ip_network(n, strict=False) for n in data["lan_networks"])
    data["media_servers"] = media_servers_from(data)
    data["download_clients"] = download_clients_from(data)
    data["mqtt"] = mqtt_from(data.get("mqtt"))
    data["line_meter"] = line_meter_from(data.get("line_meter"))
    return Settings(**data)


def load_settings(path: str, environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Read, merge the environment into, and validate the config file. Raises ConfigError."""
    environ = os.environ if environ is None else environ
    try:
        text = read_regular_file(path)
    except FileNotFoundError:
        raise ConfigError(["%s: config file not found" % path]) from None
    except UnreadableFile as exc:
        raise ConfigError(["%s: cannot read the config file: %s" % (path, exc)]) from None
    raw, origins = apply_environment(parse_json(text, path), environ, _FIELDS, _TEXT_FIELDS)
    raw = read_entry_secrets(raw, environ, path)
    raw = read_mqtt_sources(raw, environ, path)
    raw = read_line_meter_sources(raw, environ, path)
    return validate_settings(raw, path, origins)


def permission_warnings(path: str, environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """A warning when the config holds secrets and others may read it."""
    environ = os.environ if environ is None else environ
    try:
        mode = os.stat(path).st_mode
        raw = json.loads(read_regular_file(path))
    except (OSError, UnreadableFile, ValueError, RecursionError):
        return []
    holds_secret = isinstance(raw, dict) and (any(raw.get(name) for name in SECRET_FIELDS) or bool(raw.get("notify"))
                                       or isinstance(raw.get("mqtt"), dict) and bool(raw["mqtt"].get("password"))
                                       or isinstance(raw.get("line_meter"), dict) and bool(raw["line_meter"].get("community")))
    if holds_secret and mode & (stat.S_IRGRP | stat.S_IROTH):
        return ["%s holds secrets and other users can read it; run: chmod 600 %s" % (path, path)]
    return []
