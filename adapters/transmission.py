"""Transmission's speed limits through its RPC (seen on 3.00, rpc-version 16; the kebab-case keys
used here are accepted from 2.x to 4.x).

Every call is `POST <rpc url>` with `{"method": ..., "arguments": {...}}`. Transmission answers 409
with an `X-Transmission-Session-Id` header to a request without (or with an old) id: we keep the id
and resend once; a later 409 (the daemon restarted) does the same. Basic auth is sent with every
request when a username or password is configured, so a wrong password is a failed login on every
request: after a 401 nothing at all is sent for `login_retry_sec` (Transmission 3.00 locks its RPC
after 100 failed logins until it is restarted).

Limits are in the unit the daemon reports in `session-get` -> `units.speed-bytes` (1000 on 3.00:
"kB/s"); a limit is `<key>` plus `<key>-enabled`, and unlimited is `-enabled: false`.
"""
from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional

from adapters.http import HttpAnswer, HttpClient, HttpTransportError, printable_url
from adapters.login_gate import LoginGate
from domain.policies import SpeedLimit
from domain.ports import FailureKind, SpeedLimiterError

log = logging.getLogger("plex_helper.transmission")

RPC_PATH = "/transmission/rpc"
SESSION_HEADER = "X-Transmission-Session-Id"
# session-get with all fields is about 3 KB; nothing Transmission sends us is near this
MAX_ANSWER_BYTES = 64 * 1024
# Transmission keeps a limit as unsigned 32-bit bytes/s: more wraps (seen: 4294967296 B/s read back as 0)
MAX_LIMIT_BYTES = 2**32 - 1
MAX_SPEED_BYTES = 1 << 20  # a sane bound for units.speed-bytes (1000 or 1024 in every version)
_SESSION_ID = re.compile(r"[!-~]{1,200}")  # printable ASCII, no spaces: it goes back into a header
_MAX_INT = 2**53  # JSON numbers beyond this are not integers any client really sent
_PLAIN_WORDS = re.compile(r"[a-z][a-z ,'-]{0,79}")  # an error `result` we may quote (ids never match)

AUTH_PASSWORD = "password"
AUTH_NONE = "none"


# ---------------------------------------------------------------------------------------- units


def to_transmission_units(limit: SpeedLimit, speed_bytes: int) -> Optional[int]:
    """The value for `speed-limit-up` (or -down, alt-speed-*) meaning `limit`; None = unlimited
    (`-enabled: false`).

    Rounded down, so the limit is never raised above what was meant, and at least 1: Transmission
    stops a direction entirely at 0, and 0 must never be sent for a limit. The one exception to
    "never above" is that minimum: if a unit were larger than the limit (speed-bytes above 1024,
    which no version uses), 1 unit is the smallest limit Transmission can hold. Capped at what its
    32-bit bytes/s field holds (about 4 GB/s), since a larger value would wrap around.
    """
    if limit.unlimited:
        return None
    units = limit.bytes_per_sec // speed_bytes
    return min(max(1, units), MAX_LIMIT_BYTES // speed_bytes)


def from_transmission_units(value: int, enabled: bool, speed_bytes: int) -> SpeedLimit:
    """The SpeedLimit a Transmission limit of `value` units means.

    The largest KiB/s value that to_transmission_units writes as at most `value`: what we wrote
    reads back exactly (so reconciling never rewrites it), and a user's value that is no whole KiB
    reads as the KiB below it, so restoring it never raises it. An enabled 0, which blocks the
    direction, reads as 1 KiB/s, the smallest limit there is: it is a limit, not "unlimited".
    The cap (about 4 GB/s) reads as the smallest limit that is written as the cap.
    """
    if not enabled:
        return SpeedLimit(0)
    top = MAX_LIMIT_BYTES // speed_bytes
    if value >= top:  # the cap: the smallest limit that to_transmission_units writes as the cap
        return SpeedLimit(-(-top * speed_bytes // 1024))
    kib = -(-(value + 1) * speed_bytes // 1024) - 1  # ceil((value + 1) * speed_bytes / 1024) - 1
    return SpeedLimit(max(1, kib))


# ---------------------------------------------------------------------------------------- parsing


def _malformed(reason: str) -> SpeedLimiterError:
    return SpeedLimiterError(FailureKind.MALFORMED, reason)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= _MAX_INT


def parse_rpc_answer(body: bytes, method: str) -> Dict[str, Any]:
    """The `arguments` of a successful answer, or SpeedLimiterError(MALFORMED) saying what was wrong
    (never quoting the body: Transmission's answers can carry its session id)."""
    try:
        answer = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        shape = "an HTML page" if body.lstrip()[:1] == b"<" else "%d bytes that are not JSON" % len(body)
        raise _malformed("Transmission answered %s with %s; is transmission_url its RPC address?" % (method, shape))
    if not isinstance(answer, dict):
        raise _malformed("Transmission answered %s with JSON that is not an object" % method)
    result = answer.get("result")
    if result != "success":
        if isinstance(result, str) and " " in result and _PLAIN_WORDS.fullmatch(result):
            raise _malformed("Transmission refused %s: %s" % (method, result))
        raise _malformed("Transmission refused %s (its answer's result is not \"success\")" % method)
    arguments = answer.get("arguments", {})
    if not isinstance(arguments, dict):
        raise _malformed("Transmission answered %s without an arguments object" % method)
    return arguments


def parse_speed_bytes(arguments: Mapping[str, Any]) -> int:
    """`units.speed-bytes` of a session-get answer: bytes in one of Transmission's speed units."""
    units = arguments.get("units")
    value = units.get("speed-bytes") if isinstance(units, dict) else None
    if not _is_int(value) or not 1 <= value <= MAX_SPEED_BYTES:
        raise _malformed("Transmission did not say its speed unit (session-get units.speed-bytes)")
    return value


def parse_limit(arguments: Mapping[str, Any], key: str, enabled_key: Optional[str], speed_bytes: int) -> SpeedLimit:
    """A limit from a session-get answer. `enabled_key` None: always in force (alternative limits)."""
    value = arguments.get(key)
    enabled = True if enabled_key is None else arguments.get(enabled_key)
    if not _is_int(value) or not isinstance(enabled, bool):
        raise _malformed("Transmission answered session-get without a usable %s" % key)
    if value < 0:
        raise _malformed("Transmission reported a negative %s" % key)
    return from_transmission_units(value, enabled, speed_bytes)


def parse_flag(arguments: Mapping[str, Any], key: str) -> bool:
    value = arguments.get(key)
    if not isinstance(value, bool):
        raise _malformed("Transmission answered session-get without a usable %s" % key)
    return value


def parse_rate(arguments: Mapping[str, Any]) -> SpeedLimit:
    """session-stats `uploadSpeed` (bytes/s, payload) as a SpeedLimit value."""
    value = arguments.get("uploadSpeed")
    if not _is_int(value) or value < 0:
        raise _malformed("Transmission answered session-stats without a usable uploadSpeed")
    return SpeedLimit.from_bytes(value)


def parse_version(arguments: Mapping[str, Any]) -> str:
    """'Transmission 3.00 (rpc-version 16)' from session-get's `version` and `rpc-version`."""
    version, rpc = arguments.get("version"), arguments.get("rpc-version")
    if not isinstance(version, str) or not _is_int(rpc):
        raise _malformed("Transmission answered session-get without its version")
    words = version.split()
    shown = "".join(c for c in (words[0] if words else "") if c.isalnum() or c in ".-+")[:20] or "?"
    return "Transmission %s (rpc-version %d)" % (shown, rpc)


def rpc_url(base_url: str) -> str:
    """The RPC address for a configured URL, safe to print (no `user:pass@`).

    `http://nas:9091` gets `/transmission/rpc`; a URL whose path already ends in `/rpc` is kept as
    it is (a custom `rpc-url`, or the full address copied from a guide); `.../transmission` and
    `.../transmission/web` (the web UI's address) get the `/rpc` next to them.
    """
    url = printable_url(base_url)
    scheme, sep, rest = url.partition("://")
    _, slash, path = rest.partition("/")
    path = "/" + path if sep and slash else ""
    if path.endswith("/rpc"):
        return url
    if path.endswith("/transmission/web"):
        return url[: -len("/web")] + "/rpc"
    if path.endswith("/transmission"):
        return url + "/rpc"
    return url + RPC_PATH


# ---------------------------------------------------------------------------------------- the client


class TransmissionClient:
    """ClientAdapter, UploadLimitControl, DownloadLimitControl, AlternativeSpeedMode and
    TransferRates for one transmission-daemon."""

    def __init__(
        self,
        base_url: str,
        username: str = "",
        password: str = "",
        timeout_sec: float = 10.0,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        login_retry_sec: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = rpc_url(base_url)
        self._auth: Optional[str] = None  # the Authorization header's value
        if username or password:
            token = base64.b64encode(("%s:%s" % (username, password)).encode("utf-8")).decode("ascii")
            self._auth = "Basic " + token
        self._http = HttpClient(timeout_sec, verify_tls, ca_file, max_body_bytes=MAX_ANSWER_BYTES)
        self._gate = LoginGate(login_retry_sec, clock)
        self._lock = threading.RLock()
        self._session_id: Optional[str] = None
        self._speed_bytes: Optional[int] = None  # units.speed-bytes, read with every session-get

    def __repr__(self) -> str:
        return "TransmissionClient(%r)" % self._url

    # ------------------------------------------------------------------------ ClientAdapter

    def describe(self) -> str:
        arguments = self._session_get("version", "rpc-version")
        return "%s, login: %s" % (parse_version(arguments), AUTH_PASSWORD if self._auth else AUTH_NONE)

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------------ limits

    def read_upload_limit(self) -> SpeedLimit:
        return self._read_limit("speed-limit-up", "speed-limit-up-enabled")

    def write_upload_limit(self, limit: SpeedLimit) -> None:
        self._write_limit("speed-limit-up", "speed-limit-up-enabled", limit)

    def read_download_limit(self) -> SpeedLimit:
        return self._read_limit("speed-limit-down", "speed-limit-down-enabled")

    def write_download_limit(self, limit: SpeedLimit) -> None:
        self._write_limit("speed-limit-down", "speed-limit-down-enabled", limit)

    def alternative_mode(self) -> bool:
        return parse_flag(self._session_get("alt-speed-enabled"), "alt-speed-enabled")

    def set_alternative_mode(self, on: bool) -> None:
        self._call("session-set", {"alt-speed-enabled": bool(on)})

    def read_alternative_upload_limit(self) -> SpeedLimit:
        return self._read_limit("alt-speed-up", None)

    def write_alternative_upload_limit(self, limit: SpeedLimit) -> None:
        if limit.unlimited:
            # turtle mode always limits: 0 there stops uploads, and there is no "enabled" to clear
            raise SpeedLimiterError(
                FailureKind.MALFORMED,
                "Transmission's alternative (turtle) limit cannot be unlimited: use a limit above 0 "
                "or the global limit mode",
            )
        units = to_transmission_units(limit, self._units())
        self._call("session-set", {"alt-speed-up": units})

    def current_upload_rate(self) -> SpeedLimit:
        return parse_rate(self._call("session-stats", {}))

    # ------------------------------------------------------------------------ helpers

    def _read_limit(self, key: str, enabled_key: Optional[str]) -> SpeedLimit:
        arguments = self._session_get(key, *([enabled_key] if enabled_key else []))
        return parse_limit(arguments, key, enabled_key, parse_speed_bytes(arguments))

    def _write_limit(self, key: str, enabled_key: str, limit: SpeedLimit) -> None:
        units = to_transmission_units(limit, self._units())
        if units is None:
            self._call("session-set", {enabled_key: False})
        else:
            self._call("session-set", {key: units, enabled_key: True})

    def _units(self) -> int:
        """units.speed-bytes: cached from the last session-get (every read refreshes it)."""
        if self._speed_bytes is not None:
            return self._speed_bytes
        return parse_speed_bytes(self._session_get())

    def _session_get(self, *fields: str) -> Dict[str, Any]:
        arguments = self._call("session-get", {"fields": list(fields) + ["units"]})
        self._speed_bytes = parse_speed_bytes(arguments)  # cached for writes; cheap to keep fresh
        return arguments

    def _call(self, method: str, arguments: Mapping[str, Any]) -> Dict[str, Any]:
        body = json.dumps({"method": method, "arguments": dict(arguments)}).encode("utf-8")
        with self._lock:
            held = self._gate.held_back()
            if held is not None:  # nothing at all: every request would carry the wrong password
                raise SpeedLimiterError(FailureKind.REJECTED, "Transmission at %s: %s" % (self._url, held))
            answer = self._send(body)
            if answer.status == 409:
                # no id yet, or the daemon restarted and made a new one: take it, resend once
                self._session_id = self._session_id_of(answer)
                log.debug("Transmission at %s gave a new session id; sending %s again", self._url, method)
                answer = self._send(body)
            self._check_status(answer, method)
            return parse_rpc_answer(answer.body, method)

    def _session_id_of(self, answer: HttpAnswer) -> str:
        value = answer.headers.get(SESSION_HEADER, "")
        if not _SESSION_ID.fullmatch(value):
            raise SpeedLimiterError(
                FailureKind.MALFORMED,
                "%s answered 409 without a usable session id; is transmission_url Transmission's RPC address?"
                % self._url,
            )
        return value

    def _send(self, body: bytes) -> HttpAnswer:
        headers = {"Content-Type": "application/json"}
        if self._session_id:
            headers[SESSION_HEADER] = self._session_id
        if self._auth:
            headers["Authorization"] = self._auth
        try:
            try:
                answer = self._http.request("POST", self._url, headers=headers, body=body)
            except HttpTransportError as exc:
                # a kept-alive connection the daemon had closed: the request never arrived, and every
                # request here may be sent twice (session-set sets, it does not add)
                if not exc.connection_dropped:
                    raise
                answer = self._http.request("POST", self._url, headers=headers, body=body)
        except HttpTransportError as exc:
            raise SpeedLimiterError(
                FailureKind.UNREACHABLE, "Transmission not reachable at %s: %s" % (self._url, exc)
            ) from None
        if answer.truncated:
            raise _malformed(
                "Transmission answered with more than %d bytes at %s; is transmission_url its RPC address?"
                % (MAX_ANSWER_BYTES, self._url)
            )
        return answer

    def _check_status(self, answer: HttpAnswer, method: str) -> None:
        status, text = answer.status, answer.body.decode("latin-1").lower()
        if status == 401:
            if self._auth:
                self._gate.failed("wrong username or password")
                message = "Transmission rejected the username or password at %s" % self._url
            else:
                self._gate.failed("a login is required")
                message = (
                    "Transmission at %s requires a login (rpc-authentication-required): set its username "
                    "and password" % self._url
                )
            raise SpeedLimiterError(FailureKind.REJECTED, message)
        if status == 403 and "too many unsuccessful login" in text:
            self._gate.failed("Transmission locked its RPC")
            raise SpeedLimiterError(
                FailureKind.REJECTED,
                "Transmission locked its RPC after too many failed logins: fix the password, then restart "
                "transmission-daemon (%s)" % self._url,
            )
        if status == 403 and ("whitelist" in text or "unauthorized ip" in text):
            raise SpeedLimiterError(
                FailureKind.REJECTED,
                "Transmission refused this address: add it to rpc-whitelist in settings.json or disable "
                "rpc-whitelist-enabled (%s)" % self._url,
            )
        if status == 421:
            raise SpeedLimiterError(
                FailureKind.REJECTED,
                "Transmission refused the host name in %s: use its IP address, add the name to "
                "rpc-host-whitelist in settings.json, or turn on password authentication" % self._url,
            )
        if status == 403:
            raise SpeedLimiterError(FailureKind.REJECTED, "Transmission refused the request (403) at %s" % self._url)
        if status == 409:
            raise _malformed("Transmission at %s changed its session id twice in a row" % self._url)
        if 200 <= status < 300:
            self._gate.succeeded()
            return
        if status >= 500:
            raise SpeedLimiterError(FailureKind.UNREACHABLE, "Transmission answered %d at %s" % (status, self._url))
        raise _malformed(
            "%s answered %s with %d; is transmission_url Transmission's RPC address?" % (self._url, method, status)
        )
