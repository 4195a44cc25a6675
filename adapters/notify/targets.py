"""What a `notify` entry may hold, as one marshmallow schema per target type, and how a target is named.

`validate_target_spec` reads one entry: first its `type` (`_TypeSchema`), then an Apprise-style
`url` is expanded into the keys it stands for (`expand_apprise_url`), then everything else is read
with that type's schema (`NtfySchema`, `DiscordSchema`, ...; the fields are adapters.notify.spec_fields).
Problems come back as 'key: what is wrong' lines, unknown keys first (sorted), then missing required
keys, then the rest in the schema's field order. No message ever quotes a value: most are secrets.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any, Dict, Iterable, List, Mapping, Type
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from adapters.notify.apprise_urls import is_apprise_url, spec_from_apprise_url
from adapters.notify.spec_fields import (
    NTFY_PRIORITY_NAMES,
    REQUIRED,
    ChatId,
    EventNames,
    HeaderName,
    HttpUrl,
    NtfyPriority,
    ServiceKey,
    Text,
    WholeNumber,
    header_value,
    telegram_token,
)

__all__ = [
    "NTFY_PRIORITY_NAMES", "SCHEMAS", "TARGET_TYPES", "expand_apprise_url", "target_name", "validate_target_spec",
]

_NOT_AN_OBJECT = 'type: is required (each notify entry is an object such as {"type": "ntfy", "url": ...})'
_HOST_NAME = re.compile(r"[\w.-]+")  # letters (IDN too), digits, dots, hyphens: nothing a path could hide in


# ------------------------------------------------------------------------------------------ names


def target_name(kind: str, url: str) -> str:
    """'webhook https://home.example [a1b2c3]': the kind, scheme, host and port, and 6 hex digits of
    the whole URL's sha256 to tell two targets on one host apart.

    Never the path, query, fragment or user:password: for Discord (/api/webhooks/<id>/<token>),
    Slack and Home Assistant webhooks the path is the credential, and for ntfy the topic is.
    """
    url = url.strip()
    digest = hashlib.sha256(url.encode("utf-8", "surrogatepass")).hexdigest()[:6]
    return "%s %s [%s]" % (kind, _scheme_and_host(url), digest)


def _scheme_and_host(url: str) -> str:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<invalid URL>"
    if parts.scheme not in ("http", "https") or not host:
        return "<invalid URL>"
    if ":" in host:  # an IPv6 literal
        try:
            host = "[%s]" % ipaddress.IPv6Address(host)
        except ValueError:
            return "%s://<unusual host>" % parts.scheme
    elif not _HOST_NAME.fullmatch(host):
        return "%s://<unusual host>" % parts.scheme
    return "%s://%s" % (parts.scheme, host if port is None else "%s:%d" % (host, port))


# ------------------------------------------------------------------------------------------ schemas


class _TargetSchema(Schema):
    kind = fields.Raw(data_key="type")  # already checked by _TypeSchema
    events = EventNames()  # unset: every event

    class Meta:
        unknown = RAISE


class NtfySchema(_TargetSchema):
    url = HttpUrl(required=True, need_path=True)
    token = Text(validate=header_value)
    priority = NtfyPriority()


class TelegramSchema(_TargetSchema):
    bot_token = Text(
        required=True, validate=telegram_token,
        error_messages={"invalid": "must look like 123456789:AAE... (the token BotFather gave you)"},
    )
    chat_id = ChatId(required=True)
    api_url = HttpUrl()


class WebhookSchema(_TargetSchema):
    url = HttpUrl(required=True)
    headers = fields.Dict(
        keys=HeaderName(),
        # the value is never quoted: header values are where webhook secrets live
        values=Text(allow_none=False, validate=header_value, error_messages={"null": "must be a string"}),
        allow_none=True,
        error_messages={"invalid": "must be an object of header name to value"},
    )


class DiscordSchema(_TargetSchema):
    url = HttpUrl(required=True, need_path=True)  # or discord://webhook_id/webhook_token


class SlackSchema(_TargetSchema):
    url = HttpUrl(required=True, need_path=True)  # or slack://token_a/token_b/token_c


class GotifySchema(_TargetSchema):
    url = HttpUrl(required=True)  # or gotify(s)://host/app_token, which sets token too
    token = ServiceKey(required=True)
    priority = WholeNumber(0, 10)


class PushoverSchema(_TargetSchema):
    user = ServiceKey(required=True)  # or url pover://user_key@app_token
    token = ServiceKey(required=True)
    priority = WholeNumber(-2, 2)
    device = ServiceKey()
    api_url = HttpUrl()


SCHEMAS: Dict[str, Type[_TargetSchema]] = {
    "ntfy": NtfySchema, "telegram": TelegramSchema, "webhook": WebhookSchema, "discord": DiscordSchema,
    "slack": SlackSchema, "gotify": GotifySchema, "pushover": PushoverSchema,
}
# "apprise": an entry with only a url (and events) in Apprise's form; its scheme names the type
TARGET_TYPES = tuple(SCHEMAS) + ("apprise",)
_TYPE_REQUIRED = "is required (one of %s)" % ", ".join(TARGET_TYPES)


class _TypeSchema(Schema):
    kind = fields.Raw(
        data_key="type",
        required=True,
        validate=validate.OneOf(TARGET_TYPES, error="must be one of {choices}"),
        error_messages={"required": _TYPE_REQUIRED, "null": _TYPE_REQUIRED},
    )

    class Meta:
        unknown = EXCLUDE  # the type's own schema reads the rest


def _keys(schema: Type[Schema]) -> List[str]:
    return [f.data_key or name for name, f in schema._declared_fields.items()]


def _loader(kind: str, schema: Type[_TargetSchema]) -> Schema:
    """The schema, with marshmallow's "Unknown field." naming the type and the keys it knows."""
    known = ", ".join(sorted(_keys(schema)))
    schema.error_messages = {"unknown": "unknown key for a %s target (known: %s)" % (kind, known)}
    return schema()


_TYPE_SCHEMA = _TypeSchema()
_LOADERS = {kind: _loader(kind, schema) for kind, schema in SCHEMAS.items()}


# ------------------------------------------------------------------------------------------ checking


def validate_target_spec(spec: Any) -> List[str]:
    """Problems with one `notify` entry, each as 'key: what is wrong' (empty when it is fine)."""
    if not isinstance(spec, Mapping):
        return [_NOT_AN_OBJECT]
    problems = _problems(_TYPE_SCHEMA, spec)
    if problems:
        return problems
    try:
        spec = expand_apprise_url(spec)
    except ValueError as err:
        return ["url: %s" % err]
    return _problems(_LOADERS[spec["type"]], spec)


def expand_apprise_url(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    """The entry with an Apprise-style `url` replaced by the keys it stands for (the type must
    match, or be "apprise"); an entry without one as it is. ValueError says what is wrong."""
    url = spec.get("url")
    if spec["type"] == "apprise" and not is_apprise_url(url):
        raise ValueError("must be an Apprise-style URL: discord://, slack://, gotify://, gotifys:// or pover://")
    if not is_apprise_url(url):
        return spec
    found = spec_from_apprise_url(url)
    if spec["type"] not in ("apprise", found["type"]):
        raise ValueError("is a %s URL, but the type is %s" % (found["type"], spec["type"]))
    clash = sorted(k for k in found if k not in ("type", "url") and spec.get(k) is not None)
    if clash:
        raise ValueError("already gives %s: leave %s out" % (" and ".join(clash), " and ".join(clash)))
    return dict(dict(spec, **found), url=found.get("url")) if "url" in found else {
        **{k: v for k, v in spec.items() if k != "url"}, **found}


def _problems(schema: Schema, spec: Mapping[str, Any]) -> List[str]:
    try:
        schema.load(spec)
    except ValidationError as exc:
        errors: Dict[Any, Any] = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
    else:
        return []
    order = _keys(type(schema))
    unknown = sorted((str(key), msgs) for key, msgs in errors.items() if key not in order)
    found = [(key, errors[key]) for key in order if key in errors]
    required = sorted((key, msgs) for key, msgs in found if msgs == [REQUIRED])
    rest = [(key, msgs) for key, msgs in found if msgs != [REQUIRED]]
    return [line for key, msgs in unknown + required + rest for line in _lines(key, msgs, spec.get(key))]


def _lines(key: str, messages: Any, value: Any) -> Iterable[str]:
    if not isinstance(messages, dict):
        return ["%s: %s" % (key, m) for m in messages]
    # a fields.Dict's {entry: {"key": [...], "value": [...]}}, in the entry's own order; a bad name is
    # reported alone, a bad value under key.name
    lines: List[str] = []
    for name in value:
        found = messages.get(name) or {}
        if "key" in found:
            lines.extend("%s: %s" % (key, m) for m in found["key"])
        else:
            lines.extend("%s.%s: %s" % (key, name, m) for m in found.get("value", ()))
    return lines
