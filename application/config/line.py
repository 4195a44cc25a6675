"""The measured line: `line_upload_kbps`, `line_download_kbps`, `line_headroom_percent` and the
optional `line_meter` object that says where the line's byte counters come from.

`line_meter` is one of
    {"type": "upnp"}                          the router found by SSDP (or "url": its description)
    {"type": "snmp", "host": ..., "port": 161, "community" or "community_file", "interface": ...}
    {"type": "host", "interface": "eth0"}     this machine's own interface

Every key may also come from PLEX_HELPER_LINE_METER__<KEY> (two underscores, like the mqtt object's);
the community from `community_file` or PLEX_HELPER_LINE_METER__COMMUNITY_FILE, so it need not sit in
the config. An SNMP interface given as digits is an ifIndex, anything else an ifName or ifDescr.
"""
from __future__ import annotations

import json
from typing import Any, Dict, List, Mapping, Optional

from marshmallow import RAISE, Schema, ValidationError, fields, validates_schema

from application.config.fields import StrictInteger, StrictString, _between, _http_url
from application.config.settings import LineMeterSettings
from application.config.sources import ConfigError, CredentialsDirectoryUnset, UnreadableFile, read_secret_file

ENV_PREFIX = "PLEX_HELPER_LINE_METER__"
METER_TYPES = ("upnp", "snmp", "host")
# the keys each type takes besides `type`; the others are refused by name
KEYS_OF = {"upnp": ("url",), "snmp": ("host", "port", "community", "interface"), "host": ("interface",)}
REQUIRED_OF = {"upnp": (), "snmp": ("host", "community", "interface"), "host": ("interface",)}


class InterfaceField(fields.Field):
    """An interface: a name, or (SNMP) an ifIndex as a whole number."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValidationError("must be an interface name (or, for SNMP, its ifIndex number)")
        if isinstance(value, str):
            value = value.strip()
            if not value or "\x00" in value or len(value) > 255:
                raise ValidationError("must be an interface name such as eth0")
            if value.isascii() and value.isdigit():
                value = int(value)
        if isinstance(value, int) and not 1 <= value <= 2 ** 31 - 1:
            raise ValidationError("an ifIndex is a number from 1 to 2147483647")
        return value


def _host_name(value: str) -> None:
    if not value or any(c.isspace() or c in "/?#@" for c in value) or len(value) > 253:
        raise ValidationError("must be a host name or IP address, without a scheme or path")


class LineMeterSchema(Schema):
    class Meta:
        unknown = RAISE

    type = StrictString(required=True, validate=lambda v: _one_of(v, METER_TYPES))
    url = StrictString(load_default=None, validate=_http_url)
    host = StrictString(load_default=None, validate=_host_name)
    port = StrictInteger(load_default=None, validate=_between(1, 65535))
    community = StrictString(load_default=None)
    interface = InterfaceField(load_default=None)

    @validates_schema(skip_on_field_errors=True, pass_original=True)
    def _keys_fit_the_type(self, data: Dict[str, Any], original: Mapping[str, Any], **_: Any) -> None:
        kind = data["type"]
        problems: Dict[str, List[str]] = {}
        for key in ("url", "host", "port", "community", "interface"):
            if key in original and key not in KEYS_OF[kind]:
                problems[key] = ["is not used by a %s meter (it takes: %s)" % (kind, ", ".join(KEYS_OF[kind]) or "nothing more")]
        for key in REQUIRED_OF[kind]:
            if data.get(key) in (None, ""):
                problems[key] = ["is required for a %s meter" % kind]
        if kind == "host" and isinstance(data.get("interface"), int):
            problems["interface"] = ["must be a name such as eth0 (as in /proc/net/dev)"]
        if problems:
            raise ValidationError(problems)


def _one_of(value: str, choices: tuple) -> None:
    if value not in choices:
        raise ValidationError("must be one of " + ", ".join(choices))


def read_line_meter_sources(raw: Dict[str, Any], environ: Mapping[str, str], source: str) -> Dict[str, Any]:
    """`raw` with PLEX_HELPER_LINE_METER__<KEY> over its `line_meter` object (made when only the
    environment sets one) and `community_file` read into `community`."""
    variables = sorted(v for v in environ if v.startswith(ENV_PREFIX) and environ[v])
    meter = raw.get("line_meter")
    if not variables and not isinstance(meter, dict):
        return raw
    meter = dict(meter) if isinstance(meter, dict) else {}
    for variable in variables:
        key, text = variable[len(ENV_PREFIX):].lower(), environ[variable]
        meter[key] = _port_from_text(text) if key == "port" else text
    path = meter.pop("community_file", None)
    if path is not None:
        if meter.get("community"):
            raise ConfigError(["%s: line_meter.community: give community or community_file, not both" % source])
        if not isinstance(path, str):
            raise ConfigError(["%s: line_meter.community_file: must be a file name" % source])
        try:
            meter["community"] = read_secret_file(path, environ)
        except CredentialsDirectoryUnset as exc:
            raise ConfigError(["%s: line_meter.community_file: %s" % (source, exc)]) from None
        except (FileNotFoundError, UnreadableFile) as exc:
            reason = exc.strerror if isinstance(exc, FileNotFoundError) else str(exc)
            raise ConfigError(["%s: line_meter.community_file: cannot read %s: %s" % (source, path, reason)]) from None
    return dict(raw, line_meter=meter)


def _port_from_text(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text  # the schema says what is wrong with it


def check_line_fits(data: Mapping[str, Any]) -> None:
    """A meter without a capacity measures nothing useful, and a capacity without a meter cannot be
    measured: both are refused, naming the field to add."""
    meter = data.get("line_meter")
    capacities = [name for name in ("line_upload_kbps", "line_download_kbps") if data.get(name)]
    if meter and not capacities:
        raise ValidationError("measures nothing without line_upload_kbps and/or line_download_kbps (the line's "
                              "capacity)", "line_meter")
    if capacities and not meter:
        raise ValidationError('needs a line_meter to measure the line, e.g. "line_meter": {"type": "upnp"}',
                              capacities[0])


def line_meter_from(data: Optional[Mapping[str, Any]]) -> Optional[LineMeterSettings]:
    if data is None:
        return None
    kind = data["type"]
    port = data.get("port") or 161
    return LineMeterSettings(type=kind, url=data.get("url") or "", host=data.get("host") or "", port=port,
                             community=data.get("community") or "", interface=data.get("interface") or "")
