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

This module is the client (the session id, the login gate, the transport); the units and the
answers it reads are adapters/clients/transmission/rpc.py, whose names are re-exported here.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Dict, Mapping, Optional

from adapters.transport.headers import unfit_for_header
from adapters.transport.http import HttpAnswer, HttpClient, HttpTransportError, basic_auth
from adapters.clients.login_gate import LoginGate
from adapters.clients.transmission.limit import TransmissionLimit
from adapters.clients.limit_methods import LimitMethods
from adapters.clients.transmission.rpc import (
    MAX_LIMIT_BYTES, MAX_SPEED_BYTES, RPC_PATH, from_transmission_units, malformed, parse_flag, parse_limit,
    parse_rate, parse_rpc_answer, parse_speed_bytes, parse_version, rpc_url, to_transmission_units,
)
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, DownloadClientError

log = logging.getLogger("plex_helper.transmission")

SESSION_HEADER = "X-Transmission-Session-Id"
# session-get with all fields is about 3 KB; nothing Transmission sends us is near this
MAX_ANSWER_BYTES = 64 * 1024
MAX_SESSION_ID_CHARS = 200  # it goes back into a header, so it must fit one (and be short)

AUTH_PASSWORD = "password"
AUTH_NONE = "none"


# ---------------------------------------------------------------------------------------- the client


class TransmissionClient(LimitMethods):
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
            self._auth = basic_auth(username, password)
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

    def limit_control(self, direction: Direction) -> TransmissionLimit:
        """The LimitControl of one direction (Transmission has both)."""
        return TransmissionLimit(self, direction)

    def alternative_mode(self) -> bool:
        return parse_flag(self._session_get("alt-speed-enabled"), "alt-speed-enabled")

    def set_alternative_mode(self, on: bool) -> None:
        self._call("session-set", {"alt-speed-enabled": bool(on)})

    def read_alternative_upload_limit(self) -> SpeedLimit:
        return self._read_limit("alt-speed-up", None)

    def write_alternative_upload_limit(self, limit: SpeedLimit) -> None:
        if limit.unlimited:
            # turtle mode always limits: 0 there stops uploads, and there is no "enabled" to clear
            raise DownloadClientError(
                FailureKind.MALFORMED,
                "Transmission's alternative (turtle) limit cannot be unlimited: use a limit above 0 "
                "or the global limit mode",
            )
        units = to_transmission_units(limit, self.speed_bytes())
        self._call("session-set", {"alt-speed-up": units})

    def current_upload_rate(self) -> SpeedLimit:
        return parse_rate(self._call("session-stats", {}))

    def current_download_rate(self) -> SpeedLimit:
        return parse_rate(self._call("session-stats", {}), "downloadSpeed")

    # ------------------------------------------------------------------------ helpers

    def _read_limit(self, key: str, enabled_key: Optional[str]) -> SpeedLimit:
        arguments = self._session_get(key, *([enabled_key] if enabled_key else []))
        return parse_limit(arguments, key, enabled_key, parse_speed_bytes(arguments))

    # ------------------------------------------------------------------------ for TransmissionLimit

    def read_settings(self, *fields: str) -> Dict[str, Any]:
        """session-get's arguments for `fields` (and `units`)."""
        return self._session_get(*fields)

    def write_settings(self, arguments: Mapping[str, Any]) -> None:
        self._call("session-set", arguments)

    def write_limit_of(self, key: str, enabled_key: str, limit: SpeedLimit) -> None:
        units = to_transmission_units(limit, self.speed_bytes())
        if units is None:
            self._call("session-set", {enabled_key: False})
        else:
            self._call("session-set", {key: units, enabled_key: True})

    def speed_bytes(self) -> int:
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
                raise DownloadClientError(FailureKind.REJECTED, "Transmission at %s: %s" % (self._url, held))
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
        if not 0 < len(value) <= MAX_SESSION_ID_CHARS or unfit_for_header(value, token=True):
            raise DownloadClientError(
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
            raise DownloadClientError(
                FailureKind.UNREACHABLE, "Transmission not reachable at %s: %s" % (self._url, exc)
            ) from None
        if answer.truncated:
            raise malformed(
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
            raise DownloadClientError(FailureKind.REJECTED, message)
        if status == 403 and "too many unsuccessful login" in text:
            self._gate.failed("Transmission locked its RPC")
            raise DownloadClientError(
                FailureKind.REJECTED,
                "Transmission locked its RPC after too many failed logins: fix the password, then restart "
                "transmission-daemon (%s)" % self._url,
            )
        if status == 403 and ("whitelist" in text or "unauthorized ip" in text):
            raise DownloadClientError(
                FailureKind.REJECTED,
                "Transmission refused this address: add it to rpc-whitelist in settings.json or disable "
                "rpc-whitelist-enabled (%s)" % self._url,
            )
        if status == 421:
            raise DownloadClientError(
                FailureKind.REJECTED,
                "Transmission refused the host name in %s: use its IP address, add the name to "
                "rpc-host-whitelist in settings.json, or turn on password authentication" % self._url,
            )
        if status == 403:
            raise DownloadClientError(FailureKind.REJECTED, "Transmission refused the request (403) at %s" % self._url)
        if status == 409:
            raise malformed("Transmission at %s changed its session id twice in a row" % self._url)
        if 200 <= status < 300:
            self._gate.succeeded()
            return
        if status >= 500:
            raise DownloadClientError(FailureKind.UNREACHABLE, "Transmission answered %d at %s" % (status, self._url))
        raise malformed(
            "%s answered %s with %d; is transmission_url Transmission's RPC address?" % (self._url, method, status)
        )



__all__ = [
    # this module's own
    "AUTH_NONE", "AUTH_PASSWORD", "MAX_ANSWER_BYTES", "SESSION_HEADER", "TransmissionClient",
    # re-exported: adapters/clients/transmission/rpc.py
    "MAX_LIMIT_BYTES", "MAX_SPEED_BYTES", "RPC_PATH", "from_transmission_units", "parse_flag", "parse_limit",
    "parse_rate", "parse_rpc_answer", "parse_speed_bytes", "parse_version", "rpc_url", "to_transmission_units",
]
