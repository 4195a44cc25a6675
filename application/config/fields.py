"""The field types and checks the config's schemas share (top level and list entries alike)."""
from __future__ import annotations

import ipaddress
import os
import re
from typing import Any, List
from urllib.parse import urlsplit

from marshmallow import ValidationError, fields, validate

from adapters.transport.headers import unfit_for_header
from domain.units import UNLIMITED, UnitMissing, parse_rate

# libtorrent keeps a rate limit as a 32-bit count of bytes per second: at most 2 GiB/s
MAX_RATE_KIB = 2_000_000
HOUR, DAY, WEEK = 3600, 86400, 7 * 86400
MAX_COUNT = 1000  # thresholds, tiers' stream counts, failures before a notification


class StrictInteger(fields.Integer):
    """An integer that refuses booleans, floats and strings: a JSON `true` is never a number."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictNumber(fields.Float):
    """A finite number (int or float), never a boolean or a string."""

    default_error_messages = {
        "special": "must be a finite number (not NaN or infinity)",
        "too_large": "is far too large",
    }

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

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        text = super()._deserialize(value, attr, data, **kwargs)
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:  # JSON can spell half a surrogate pair ("\ud800"), which nothing can send
            raise ValidationError("must be valid Unicode text (it holds a lone \\uD800-\\uDFFF escape)") from None
        return text


def _http_url(value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("must be an http:// or https:// URL with a host, for example http://192.168.1.10:8080")
    if parts.username or parts.password:
        raise ValidationError("must not contain a user name or password; use the separate fields")
    if parts.query or parts.fragment:
        # a URL copied from Plex's "View XML" carries ?X-Plex-Token=...: it must not be printed anywhere
        raise ValidationError("must not contain a query (?...) or fragment (#...); tokens and keys go in their own fields")
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
    if unfit_for_header(value, token=True):
        raise ValidationError("must contain only printable ASCII characters without spaces")


def _readable_file(value: str) -> None:
    if not os.path.isfile(value) or not os.access(value, os.R_OK):
        raise ValidationError("file %s does not exist or cannot be read" % value)


def _at_least(minimum: float) -> validate.Range:
    return validate.Range(min=minimum, error="must be at least {min}")


def _between(minimum: float, maximum: float) -> List[validate.Range]:
    return [_at_least(minimum), validate.Range(max=maximum, error="must be at most {max}")]


class RateField(fields.Field):
    """A limit or capacity: a whole number of KiB/s, or text with a unit ("20 Mbit/s"), kept as
    whole KiB/s rounded down (but at least 1 when above 0). "unlimited" is 0, where 0 is allowed."""

    def __init__(self, minimum: int = 0, unlimited: bool = True, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.minimum, self.unlimited_allowed = minimum, unlimited

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str):
            try:
                rate = parse_rate(value)
            except UnitMissing as exc:  # "100": which unit was meant?
                raise ValidationError("must be a whole number (KiB/s) or have a unit: %s" % exc) from None
            except ValueError as exc:
                raise ValidationError(str(exc)) from None
            if rate.unlimited and value.strip().lower() == UNLIMITED and not self.unlimited_allowed:
                raise ValidationError('cannot be "unlimited" here; give a rate such as "20 Mbit/s"')
            kib = rate.whole_kib()
        elif isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError("must be a whole number")
        else:
            kib = value
        if kib < self.minimum:
            raise ValidationError("must be at least %d" % self.minimum)
        if kib > MAX_RATE_KIB:
            raise ValidationError("must be at most %d KiB/s (about 16 Gbit/s)" % MAX_RATE_KIB)
        return kib


def _positive() -> validate.Range:
    return validate.Range(min=0, min_inclusive=False, error="must be greater than 0")


def _non_empty(error: str = "must not be empty") -> validate.Length:
    return validate.Length(min=1, error=error)


class NotifyTarget(fields.Field):
    """One notification target; the adapter knows what each type needs."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        from adapters.notify.senders import validate_target_spec  # the target types are the adapter's

        if not isinstance(value, dict):
            raise ValidationError("must be an object such as {\"type\": \"ntfy\", \"url\": ...}")
        problems = validate_target_spec(value)
        if problems:
            raise ValidationError(problems)
        return dict(value)


def _listen_address(value: str) -> None:
    from adapters.status.server import parse_listen  # the server's own reading of the address

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


class ScheduleField(fields.Field):
    """`schedule`: time windows that change the limits (domain/schedule.py parses and checks them)."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        from domain.schedule import parse_schedule

        try:
            return parse_schedule(value, name="entry")
        except ValueError as exc:
            raise ValidationError(str(exc)) from None


def _time_zone(value: str) -> None:
    if not value:
        return
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        from zoneinfo import available_timezones

        if not available_timezones():  # suggesting a name would be wrong: no name can be found here
            raise ValidationError(
                "cannot look up %r: this Python has no time zone database (install the system's tzdata "
                "package, or run the .pyz, which carries one); empty: the machine's zone" % value) from None
        raise ValidationError("unknown time zone %r (for example Europe/Berlin; empty: the machine's zone)" % value) from None


_HOST_NAME = re.compile(r"(?=.{1,253}\.?$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?")


def _host_name(value: str) -> None:
    """A name as a browser puts it in Host, without scheme, port or path (addresses are always served)."""
    if not _HOST_NAME.fullmatch(value):
        raise ValidationError("%r is not a host name: give the name alone, e.g. nas.home.arpa (no http://, port "
                              "or path)" % value[:100])
