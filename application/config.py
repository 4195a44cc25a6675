"""Loading the JSON config: marshmallow validation, environment overrides, one clear line per problem."""
from __future__ import annotations

import ipaddress
import json
import os
import re
import stat
from typing import Any, Dict, List, Mapping, Optional, Tuple
from urllib.parse import urlsplit

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from application.settings import Settings

COUNTABLE_STATES = ("playing", "paused", "buffering")

# (environment variable, config field) for each secret; VAR_FILE reads the value from a file
SECRET_ENV = (
    ("PLEX_TOKEN", "plex_token"),
    ("QBITTORRENT_PASSWORD", "qbittorrent_password"),
    ("QBITTORRENT_API_KEY", "qbittorrent_api_key"),
    ("PLEX_HELPER_STATUS_TOKEN", "status_token"),
)


class ConfigError(Exception):
    """The config cannot be used. `problems` holds one complete line per problem."""

    def __init__(self, problems: List[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class StrictInteger(fields.Integer):
    """An integer that refuses booleans, floats and strings: a JSON `true` is never a number."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictNumber(fields.Float):
    """A number of seconds: int or float, never a boolean or a string."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValidationError("must be a number")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictBoolean(fields.Boolean):
    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, bool):
            raise ValidationError("must be true or false")
        return value


class StrictString(fields.String):
    default_error_messages = {"invalid": "must be a string"}


def _http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("must be an http:// or https:// URL with a host, for example http://192.168.1.10:8080")
    if parts.username or parts.password:
        raise ValidationError("must not contain a user name or password; use the separate fields")
    if parts.query or parts.fragment:
        # a URL copied from Plex's "View XML" carries ?X-Plex-Token=...: it must not be printed anywhere
        raise ValidationError("must not contain a query (?...) or fragment (#...); the token goes in plex_token")
    try:
        parts.port
    except ValueError:
        raise ValidationError("has an invalid port") from None


def _cidr(value: str) -> None:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValidationError("%r is not a network such as 192.168.1.0/24" % value) from None


def _header_safe(value: str) -> None:
    # sent as an HTTP header value: anything else cannot be sent, or would be mangled
    if not value:
        raise ValidationError("must not be empty")
    if any(not ("!" <= ch <= "~") for ch in value):
        raise ValidationError("must contain only printable ASCII characters without spaces")


def _readable_file(value: str) -> None:
    if not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise ValidationError("file %s does not exist or cannot be read" % value)


def _at_least(minimum: float) -> validate.Range:
    return validate.Range(min=minimum, error="must be at least {min}")


def _positive() -> validate.Range:
    return validate.Range(min=0, min_inclusive=False, error="must be greater than 0")


def _non_empty(error: str = "must not be empty") -> validate.Length:
    return validate.Length(min=1, error=error)


class NotifyTarget(fields.Field):
    """One notification target; the adapter knows what each type needs."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        from adapters.notifiers import validate_target_spec  # the target types are the adapter's

        if not isinstance(value, dict):
            raise ValidationError("must be an object such as {\"type\": \"ntfy\", \"url\": ...}")
        problems = validate_target_spec(value)
        if problems:
            raise ValidationError(problems)
        return dict(value)


def _listen_address(value: str) -> None:
    from adapters.status_server import parse_listen  # the server's own reading of the address

    try:
        parse_listen(value)
    except ValueError as exc:
        raise ValidationError("must be host:port, for example 127.0.0.1:9911 (%s)" % exc) from None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return bool(host) and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


LIMIT_POLICIES = ("fixed", "tiers", "dynamic")
LIMIT_MODES = ("global", "alternative")


class TierSchema(Schema):
    class Meta:
        unknown = RAISE

    streams = StrictInteger(required=True, validate=_at_least(1))
    upload_kbps = StrictInteger(required=True, validate=_at_least(0))


class ConfigSchema(Schema):
    class Meta:
        unknown = RAISE

    plex_url = StrictString(required=True, validate=_http_url)
    plex_token = StrictString(required=True, validate=_header_safe)
    qbittorrent_url = StrictString(required=True, validate=_http_url)
    qbittorrent_username = StrictString(load_default="")
    qbittorrent_password = StrictString(load_default="")
    qbittorrent_api_key = StrictString(load_default="", validate=lambda v: _header_safe(v) if v else None)
    idle_upload_kbps = StrictInteger(load_default=0, validate=_at_least(0))
    streaming_upload_kbps = StrictInteger(load_default=500, validate=_at_least(0))
    poll_interval_sec = StrictNumber(load_default=10.0, validate=_at_least(1))
    streaming_threshold = StrictInteger(load_default=2, validate=_at_least(1))
    idle_threshold = StrictInteger(load_default=3, validate=_at_least(1))
    count_states = fields.List(
        StrictString(validate=validate.OneOf(COUNTABLE_STATES, error="must be one of " + ", ".join(COUNTABLE_STATES))),
        load_default=["playing"],
        validate=_non_empty("must name at least one state"),
    )
    plex_down_restore_after_sec = StrictNumber(load_default=300.0, validate=_at_least(0))
    restore_on_exit = StrictBoolean(load_default=True)
    reconcile_interval_sec = StrictNumber(load_default=60.0, validate=_at_least(0))
    # at most 30: a poll (Plex, then qBittorrent) must end well within systemd's WatchdogSec
    http_timeout_sec = StrictNumber(load_default=10.0, validate=[_positive(), validate.Range(max=30, error="must be at most {max}")])
    login_retry_sec = StrictNumber(load_default=300.0, validate=_at_least(1))
    plex_verify_tls = StrictBoolean(load_default=True)
    plex_ca_file = StrictString(load_default=None, allow_none=True, validate=_readable_file)
    qbittorrent_verify_tls = StrictBoolean(load_default=True)
    qbittorrent_ca_file = StrictString(load_default=None, allow_none=True, validate=_readable_file)
    lan_networks = fields.List(StrictString(validate=_cidr), load_default=[])
    ignore_users = fields.List(StrictString(), load_default=[])

    limit_policy = StrictString(load_default="fixed", validate=validate.OneOf(LIMIT_POLICIES, error="must be one of " + ", ".join(LIMIT_POLICIES)))
    streaming_tiers = fields.List(fields.Nested(TierSchema), load_default=[])
    upload_capacity_kbps = StrictInteger(load_default=0, validate=_at_least(0))
    stream_overhead_factor = StrictNumber(load_default=1.2, validate=_at_least(1))
    min_upload_kbps = StrictInteger(load_default=10, validate=_at_least(1))
    dynamic_deadband_percent = StrictNumber(load_default=10.0, validate=validate.Range(min=0, max=100, error="must be between {min} and {max}"))
    limit_mode = StrictString(load_default="global", validate=validate.OneOf(LIMIT_MODES, error="must be one of " + ", ".join(LIMIT_MODES)))
    plex_events = StrictBoolean(load_default=True)
    max_transitions_per_hour = StrictInteger(load_default=0, validate=_at_least(0))
    notify = fields.List(NotifyTarget(), load_default=[])
    notify_after_failures = StrictInteger(load_default=3, validate=_at_least(1))
    status_listen = StrictString(load_default="", validate=lambda v: _listen_address(v) if v else None)
    status_token = StrictString(load_default="", validate=lambda v: _header_safe(v) if v else None)
    state_dir = StrictString(load_default=None, allow_none=True, validate=_non_empty())

    @validates_schema(skip_on_field_errors=False)
    def _remote_status_needs_a_token(self, data: Dict[str, Any], **_: Any) -> None:
        listen = data.get("status_listen") or ""
        if listen and not data.get("status_token"):
            from adapters.status_server import parse_listen

            try:
                host, _port = parse_listen(listen)
            except ValueError:
                return
            if not _is_loopback(host):
                raise ValidationError(
                    "binding to %s without a status_token would let anyone on the network change the "
                    "throttle; set status_token or listen on 127.0.0.1" % (host or "all addresses"), "status_listen",
                )

    @validates_schema(skip_on_field_errors=False)
    def _policy_has_its_settings(self, data: Dict[str, Any], **_: Any) -> None:
        policy = data.get("limit_policy")
        if policy == "tiers":
            tiers = data.get("streaming_tiers") or []
            if not tiers:
                raise ValidationError("must list at least one tier when limit_policy is tiers", "streaming_tiers")
            counts = [t.get("streams") for t in tiers if isinstance(t, dict)]
            if len(set(counts)) != len(counts):
                raise ValidationError("two tiers have the same streams count", "streaming_tiers")
        if policy == "dynamic" and not data.get("upload_capacity_kbps"):
            raise ValidationError("required (at least 1) when limit_policy is dynamic", "upload_capacity_kbps")

    @validates_schema(skip_on_field_errors=False)
    def _credentials_fit_together(self, data: Dict[str, Any], **_: Any) -> None:
        username = data.get("qbittorrent_username", "")
        password = data.get("qbittorrent_password", "")
        if username and not password and not data.get("qbittorrent_api_key"):
            raise ValidationError(
                "required when qbittorrent_username is set (or set QBITTORRENT_PASSWORD)",
                "qbittorrent_password",
            )
        if password and not username:
            raise ValidationError("required when a password is set", "qbittorrent_username")


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
_SECRET_HINTS = {name: "%s or %s_FILE" % (var, var) for var, name in SECRET_ENV}


def _read_secret_file(variable: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read().rstrip("\r\n")
    except OSError as exc:
        raise ConfigError(["%s: cannot read %s: %s" % (variable, path, exc.strerror or exc)]) from None


def apply_environment(raw: Dict[str, Any], environ: Mapping[str, str]) -> Dict[str, Any]:
    """Secrets from VAR or VAR_FILE override the file's values."""
    merged = dict(raw)
    problems = []
    for variable, field_name in SECRET_ENV:
        direct = environ.get(variable)
        file_path = environ.get(variable + "_FILE")
        if direct and file_path:
            problems.append("%s and %s_FILE are both set; use one" % (variable, variable))
            continue
        if direct:
            merged[field_name] = direct
        elif file_path:
            try:
                merged[field_name] = _read_secret_file(variable + "_FILE", file_path)
            except ConfigError as err:
                problems.extend(err.problems)
    if problems:
        raise ConfigError(problems)
    return merged


def parse_json(text: str, source: str) -> Dict[str, Any]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(["%s: not valid JSON: %s at line %d column %d" % (source, exc.msg, exc.lineno, exc.colno)]) from None
    if not isinstance(raw, dict):
        raise ConfigError(["%s: must hold a JSON object {...} at the top level" % source])
    return raw


def validate_settings(raw: Dict[str, Any], source: str) -> Settings:
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
            if message == "Missing data for required field." and field_name in _SECRET_HINTS:
                words += " (or set %s)" % _SECRET_HINTS[field_name]
            lines.append("%s: %s: %s" % (source, where, words))
        raise ConfigError(sorted(lines)) from None
    data["count_states"] = tuple(data["count_states"])
    data["ignore_users"] = tuple(data["ignore_users"])
    data["notify"] = tuple(data["notify"])
    data["streaming_tiers"] = tuple((t["streams"], t["upload_kbps"]) for t in data["streaming_tiers"])
    data["lan_networks"] = tuple(ipaddress.ip_network(n, strict=False) for n in data["lan_networks"])
    return Settings(**data)


def load_settings(path: str, environ: Optional[Mapping[str, str]] = None) -> Settings:
    """Read, merge the environment into, and validate the config file. Raises ConfigError."""
    environ = os.environ if environ is None else environ
    try:
        with open(path, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        raise ConfigError(["%s: config file not found" % path]) from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise ConfigError(["%s: cannot read the config file: %s" % (path, reason)]) from None
    raw = apply_environment(parse_json(text, path), environ)
    return validate_settings(raw, path)


def permission_warnings(path: str, environ: Optional[Mapping[str, str]] = None) -> List[str]:
    """A warning when the config holds secrets and others may read it."""
    environ = os.environ if environ is None else environ
    try:
        mode = os.stat(path).st_mode
        with open(path, encoding="utf-8") as handle:
            raw = json.load(handle)
    except (OSError, ValueError):
        return []
    holds_secret = isinstance(raw, dict) and (
        any(raw.get(name) for _, name in SECRET_ENV) or bool(raw.get("notify"))
    )
    if holds_secret and mode & (stat.S_IRGRP | stat.S_IROTH):
        return ["%s holds secrets and other users can read it; run: chmod 600 %s" % (path, path)]
    return []
