"""What a `notify` entry may hold, as one marshmallow schema per target type, and how a target is named.

`validate_target_spec` reads one entry: first its `type` (`_TypeSchema`), then everything else with
that type's schema (`NtfySchema`, `TelegramSchema`, `WebhookSchema`). Problems come back as
'key: what is wrong' lines, unknown keys first (sorted), then missing required keys, then the rest in
the schema's field order. No message ever quotes a value: most of them are secrets. Optional keys
may be null (= not set); a required key may be neither null nor blank.
"""
from __future__ import annotations

import hashlib
import ipaddress
import re
from typing import Any, Dict, Iterable, List, Mapping, Optional, Type
from urllib.parse import urlsplit

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from adapters.transport.headers import unfit_for_header

# ntfy priorities: 1..5 or their names (https://docs.ntfy.sh/publish/#message-priority)
NTFY_PRIORITY_NAMES = ("min", "low", "default", "high", "max", "urgent")

REQUIRED = "is required"
_NOT_AN_OBJECT = 'type: is required (each notify entry is an object such as {"type": "ntfy", "url": ...})'
_TELEGRAM_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token
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


# ------------------------------------------------------------------------------------------ fields


class _Entry(fields.Field):
    """One key of a notify entry: null means "not set", so only a required key refuses it (or a blank
    string). Subclasses check the value in `check`; the `validate=` validators run after it."""

    default_error_messages = {"required": REQUIRED, "null": REQUIRED}

    def __init__(self, *, required: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("allow_none", not required)
        super().__init__(required=required, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if self.required and isinstance(value, str) and not value.strip():
            raise self.make_error("required")
        self.check(value)
        return value

    def check(self, value: Any) -> None:
        """Raise ValidationError when the (non-null) value is wrong."""


class _Text(_Entry):
    default_error_messages = {"invalid": "must be a string"}

    def check(self, value: Any) -> None:
        if not isinstance(value, str):
            raise self.make_error("invalid")


class _HttpUrl(_Entry):
    def __init__(self, *, need_path: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.need_path = need_path

    def check(self, value: Any) -> None:
        problem = _url_problem(value, self.need_path)
        if problem:
            raise ValidationError(problem)


class _Priority(_Entry):
    def check(self, value: Any) -> None:
        if isinstance(value, bool):
            ok = False
        elif isinstance(value, int):
            ok = 1 <= value <= 5
        elif isinstance(value, str):
            ok = value.strip().lower() in NTFY_PRIORITY_NAMES + ("1", "2", "3", "4", "5")
        else:
            ok = False
        if not ok:
            raise ValidationError("must be 1 to 5 or one of %s" % ", ".join(NTFY_PRIORITY_NAMES))


class _ChatId(_Entry):
    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValidationError("must be a number or a string such as @channelname")
        if isinstance(value, str) and any(c.isspace() for c in value.strip()):
            raise ValidationError("must not contain spaces")


class _HeaderName(fields.Field):
    """A header name (a key of `headers`); the message shows a short name, never the value."""

    default_error_messages = {"null": "a name is not a valid header name"}

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or not _HEADER_NAME.fullmatch(value):
            shown = repr(value) if isinstance(value, str) and len(value) <= 40 else "a name"
            raise ValidationError("%s is not a valid header name" % shown)
        return value


def _url_problem(value: Any, need_path: bool = False) -> Optional[str]:
    if not isinstance(value, str) or not value.strip():
        return "must be an http(s) URL"
    try:
        parts = urlsplit(value.strip())
        parts.port
    except ValueError:
        return "must be an http(s) URL (invalid port or host)"
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in value.strip()):
        return "must be an http(s) URL"
    if need_path and not parts.path.strip("/"):
        return "must include the topic, for example https://ntfy.sh/my-topic"
    return None


def _header_value(value: str) -> None:
    """One line of Latin-1 without control characters (the first problem only)."""
    unfit = unfit_for_header(value)
    if any(c in unfit for c in "\r\n\0"):
        raise ValidationError("must be one line")
    if any(c > "\xff" for c in unfit):
        raise ValidationError("must use only Latin-1 characters (HTTP header)")
    if unfit:
        raise ValidationError("must not contain control characters (HTTP header)")


def _telegram_token(value: str) -> None:
    if not _TELEGRAM_TOKEN.fullmatch(value.strip()):
        raise ValidationError("must look like 123456789:AAE... (the token BotFather gave you)")


# ------------------------------------------------------------------------------------------ schemas


class _TargetSchema(Schema):
    kind = fields.Raw(data_key="type")  # already checked by _TypeSchema

    class Meta:
        unknown = RAISE


class NtfySchema(_TargetSchema):
    url = _HttpUrl(required=True, need_path=True)
    token = _Text(validate=_header_value)
    priority = _Priority()


class TelegramSchema(_TargetSchema):
    bot_token = _Text(
        required=True, validate=_telegram_token,
        error_messages={"invalid": "must look like 123456789:AAE... (the token BotFather gave you)"},
    )
    chat_id = _ChatId(required=True)
    api_url = _HttpUrl()


class WebhookSchema(_TargetSchema):
    url = _HttpUrl(required=True)
    headers = fields.Dict(
        keys=_HeaderName(),
        # the value is never quoted: header values are where webhook secrets live
        values=_Text(allow_none=False, validate=_header_value, error_messages={"null": "must be a string"}),
        allow_none=True,
        error_messages={"invalid": "must be an object of header name to value"},
    )


SCHEMAS: Dict[str, Type[_TargetSchema]] = {"ntfy": NtfySchema, "telegram": TelegramSchema, "webhook": WebhookSchema}
TARGET_TYPES = tuple(SCHEMAS)
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
    return _problems(_TYPE_SCHEMA, spec) or _problems(_LOADERS[spec["type"]], spec)


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
