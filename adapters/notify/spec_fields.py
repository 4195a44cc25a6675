"""The field types a `notify` entry's schemas are made of (adapters.notify.targets), and their checks.

No message ever quotes a value: most of them are secrets. Optional keys may be null (= not set); a
required key may be neither null nor blank.
"""
from __future__ import annotations

import re
from typing import Any, Optional
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields

from adapters.notify.events import EVENTS
from adapters.transport.headers import unfit_for_header

# ntfy priorities: 1..5 or their names (https://docs.ntfy.sh/publish/#message-priority)
NTFY_PRIORITY_NAMES = ("min", "low", "default", "high", "max", "urgent")
REQUIRED = "is required"
_TELEGRAM_TOKEN = re.compile(r"[0-9]+:[A-Za-z0-9_-]+")
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110 token

class Entry(fields.Field):
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


class Text(Entry):
    default_error_messages = {"invalid": "must be a string"}

    def check(self, value: Any) -> None:
        if not isinstance(value, str):
            raise self.make_error("invalid")


class HttpUrl(Entry):
    def __init__(self, *, need_path: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.need_path = need_path

    def check(self, value: Any) -> None:
        problem = _url_problem(value, self.need_path)
        if problem:
            raise ValidationError(problem)


class NtfyPriority(Entry):
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


class ChatId(Entry):
    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, str)):
            raise ValidationError("must be a number or a string such as @channelname")
        if isinstance(value, str) and any(c.isspace() for c in value.strip()):
            raise ValidationError("must not contain spaces")


class WholeNumber(Entry):
    def __init__(self, low: int, high: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.low, self.high = low, high

    def check(self, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise ValidationError("must be a whole number from %d to %d" % (self.low, self.high))


class EventNames(Entry):
    def check(self, value: Any) -> None:
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v in EVENTS for v in value):
            raise ValidationError("must list one or more of %s" % ", ".join(EVENTS))


class ServiceKey(Text):
    """A service's key or token: letters, digits and _ . ~ - only."""

    def check(self, value: Any) -> None:
        super().check(value)
        if value.strip() and not re.fullmatch(r"[A-Za-z0-9_.~-]+", value.strip()):
            raise ValidationError("must be the key as the service shows it (letters and digits)")


class HeaderName(fields.Field):
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


def header_value(value: str) -> None:
    """One line of Latin-1 without control characters (the first problem only)."""
    unfit = unfit_for_header(value)
    if any(c in unfit for c in "\r\n\0"):
        raise ValidationError("must be one line")
    if any(c > "\xff" for c in unfit):
        raise ValidationError("must use only Latin-1 characters (HTTP header)")
    if unfit:
        raise ValidationError("must not contain control characters (HTTP header)")


def telegram_token(value: str) -> None:
    if not _TELEGRAM_TOKEN.fullmatch(value.strip()):
        raise ValidationError("must look like 123456789:AAE... (the token BotFather gave you)")
