"""Request bodies the status server accepts: the media servers' webhooks and the override's JSON
(an override of the state, or a temporary limit).

Everything here is linear in the size of what it reads and never recurses on the input: a
multipart body is read flat (only the top-level `payload` field matters, a nested multipart is just
bytes), JSON nested deeper than MAX_JSON_DEPTH is refused before it is decoded, and header
parameters are picked out with one regular expression rather than a full MIME parse (a
Content-Type with thousands of parameters costs the email package seconds of CPU).
Every failure is a RequestError 400 (or 415) with a message for the client; the status server
answers its other refusals (404, 401, 413...) with the same exception.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Dict, Iterable, Optional, Tuple, Union
from urllib.parse import parse_qs

MAX_JSON_DEPTH = 32  # Plex's webhook payload is 4 deep
MAX_BOUNDARY_CHARS = 70  # RFC 2046
MAX_PARTS = 100  # Plex sends two (payload and thumb)


class RequestError(Exception):
    """A request that gets an error answer: `status` and a message for the client."""

    def __init__(self, status: int, message: str, headers: Iterable[Tuple[str, str]] = ()) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = tuple(headers)


_TOKEN = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_PARAMETER = re.compile(r';\s*(%s)\s*=\s*("[^"\\]*(?:\\.[^"\\]*)*"|[^;\s"]*)' % _TOKEN)
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_NOT_A_BRACKET = re.compile(r"[^\[\]{}]+")
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def header_parameter(value: str, name: str) -> Optional[str]:
    """The value of parameter `name` in a header like `multipart/form-data; boundary="x"`, or None."""
    wanted = name.lower()
    for match in _PARAMETER.finditer(value):
        if match.group(1).lower() == wanted:
            text = match.group(2)
            if text.startswith('"'):
                text = re.sub(r"\\(.)", r"\1", text[1:-1])
            return text
    return None


def webhook_object(content_type: str, body: bytes) -> Dict[str, Any]:
    """The JSON object of a webhook, whoever sent it, in every shape they send it:
    - Plex: multipart/form-data with a `payload` part (a form `payload=` or bare JSON for curl);
    - Jellyfin's Webhook plugin: JSON as text/plain (Generic destination), a flat form (Generic Form),
      or application/json;
    - Emby: multipart/form-data with a `data` part, or application/json.
    A form without `payload` is the flat form itself (its values strings). Which server sent it, and
    whether it is a playback event, is the caller's to decide from the object's keys."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == "multipart/form-data":
        raw = multipart_field(content_type, body, "payload", "data")
    elif media_type == "application/x-www-form-urlencoded":
        try:
            values = parse_qs(body.decode("utf-8"), strict_parsing=bool(body), max_num_fields=1000)
        except (UnicodeDecodeError, ValueError) as err:
            raise RequestError(400, "malformed form body") from err
        if "payload" not in values:
            return {key: value[-1] for key, value in values.items()}
        raw = values["payload"][-1].encode("utf-8")
    elif media_type in ("application/json", "text/plain", ""):
        raw = body
    else:
        raise RequestError(415, "unsupported Content-Type %s (Plex sends multipart/form-data, Jellyfin's Webhook "
                                "plugin text/plain JSON or a form, Emby multipart/form-data or JSON)" % media_type[:64])
    return json_object(raw, "the webhook payload")


def multipart_field(content_type: str, body: bytes, *names: str) -> bytes:
    """The content of the top-level form field named first in `names` that the multipart/form-data
    body holds (Plex's `payload`, Emby's `data`)."""
    boundary = header_parameter(content_type, "boundary")
    if not boundary:
        raise RequestError(400, "multipart/form-data without a boundary")
    if len(boundary) > MAX_BOUNDARY_CHARS or not boundary.isascii():
        raise RequestError(400, "malformed multipart body (bad boundary)")
    delimiter = re.compile(rb"(?:\A|\r?\n)--" + re.escape(boundary.encode("ascii")))
    pieces = delimiter.split(body)  # [preamble, part, part, ..., "--" + epilogue]
    if len(pieces) < 2:
        raise RequestError(400, "malformed multipart body (no boundary line)")
    if len(pieces) > MAX_PARTS + 2:
        raise RequestError(400, "malformed multipart body (more than %d parts)" % MAX_PARTS)
    found: Dict[str, bytes] = {}
    for piece in pieces[1:]:
        if piece.startswith(b"--"):  # the closing delimiter
            for name in names:
                if name in found:
                    return found[name]
            raise RequestError(400, "no %s part in the multipart body" % " or ".join("'%s'" % n for n in names))
        piece = piece.lstrip(b" \t")  # transport padding after the delimiter
        if piece.startswith(b"\r\n"):
            piece = piece[2:]
        elif piece.startswith(b"\n"):
            piece = piece[1:]
        else:
            raise RequestError(400, "malformed multipart body (junk after a boundary)")
        if piece.startswith((b"\r\n", b"\n")):  # a part without headers
            head, content = b"", piece[2 if piece.startswith(b"\r") else 1:]
        else:
            blank = _BLANK_LINE.search(piece)
            if blank is None:
                raise RequestError(400, "malformed multipart body (a part without a blank line)")
            head, content = piece[: blank.start()], piece[blank.end():]
        field = _field_name(head)
        if field in names and field not in found:
            found[field] = content
    raise RequestError(400, "malformed multipart body (no closing boundary)")


def _field_name(head: bytes) -> Optional[str]:
    for line in head.decode("utf-8", "replace").splitlines():
        header, _, value = line.partition(":")
        if header.strip().lower() == "content-disposition":
            return header_parameter(value, "name")
    return None


def json_object(raw: bytes, what: str) -> Dict[str, Any]:
    """A JSON object, nested at most MAX_JSON_DEPTH deep."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise RequestError(400, "%s is not valid JSON" % what) from err
    if json_depth_exceeds(text, MAX_JSON_DEPTH):
        raise RequestError(400, "%s is nested too deeply (more than %d levels)" % (what, MAX_JSON_DEPTH))
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as err:
        raise RequestError(400, "%s is not valid JSON" % what) from err
    if not isinstance(data, dict):
        raise RequestError(400, "%s must be a JSON object" % what)
    return data


def json_depth_exceeds(text: str, limit: int) -> bool:
    """True when the brackets of JSON `text` (outside its strings) nest deeper than `limit`."""
    brackets = _NOT_A_BRACKET.sub("", _JSON_STRING.sub("", text))
    if len(brackets) <= limit:  # cannot nest deeper than it has brackets
        return False
    depth = 0
    for char in brackets:
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


@dataclass(frozen=True)
class OverrideRequest:
    """POST /override with `state`: force it for `minutes`."""

    state: str
    minutes: float


@dataclass(frozen=True)
class TemporaryLimitRequest:
    """POST /override with `direction`: hold that budget at `kib` (a number of KiB/s, or text with a
    unit such as "1 MB/s") for `minutes`, with the user's `label`."""

    direction: str
    kib: Union[int, float, str]
    minutes: float
    label: str = ""


def override_request(body: bytes) -> Union[OverrideRequest, TemporaryLimitRequest]:
    """The override's JSON body: {"state", "minutes"} or {"direction", "kib", "minutes", "label"};
    the backend checks the values."""
    data = json_object(body, "the request body")
    temporary = "direction" in data
    expected = {"direction", "kib", "minutes", "label"} if temporary else {"state", "minutes"}
    unknown = sorted(set(data) - expected)
    if unknown:
        raise RequestError(400, "unknown field(s): %s (expected %s)" % (", ".join(unknown[:5])[:200], " and ".join(
            sorted(expected))))
    minutes = data.get("minutes")
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not math.isfinite(minutes):
        raise RequestError(400, "'minutes' must be a number")
    if not temporary:
        state = data.get("state")
        if not isinstance(state, str):
            raise RequestError(400, "'state' must be \"streaming\" or \"idle\"")
        return OverrideRequest(state, float(minutes))
    direction, kib, label = data.get("direction"), data.get("kib"), data.get("label", "")
    if not isinstance(direction, str):
        raise RequestError(400, "'direction' must be \"upload\" or \"download\"")
    if isinstance(kib, bool) or not isinstance(kib, (int, float, str)):
        raise RequestError(400, "'kib' must be a number of KiB/s or a rate such as \"1 MB/s\"")
    if not isinstance(label, str):
        raise RequestError(400, "'label' must be text")
    return TemporaryLimitRequest(direction, kib, float(minutes), label)


__all__ = [
    "MAX_JSON_DEPTH", "OverrideRequest", "RequestError", "TemporaryLimitRequest", "header_parameter", "json_object",
    "multipart_field", "override_request", "webhook_object",
]
