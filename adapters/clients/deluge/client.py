"""Deluge's global speed limits through its web UI's JSON-RPC (seen on Deluge 2.0.3).

Every call is `POST <base>/json` with `{"method": ..., "params": [...], "id": n}`; errors come back
as HTTP 200 with an `error` object. `auth.login [password]` sets a `_session_id` cookie; when a call
answers "Not authenticated" (code 1: the session expired or deluge-web restarted) we log in again
once and retry once. A failed login holds the next one back for `login_retry_sec`.

The web UI talks to a daemon (deluged) it must be connected to. It keeps that connection for all its
users, so we connect it only when it is not connected (or is connected to another daemon than
`daemon_host`), to a host already in its Connection Manager; we never add one. Deluge 2.0.3 answers
core calls made before its first connection with "Unknown method" (code 2), and lets core calls hang
once its daemon went away: either way we check `web.connected`, connect and retry once.

Limits are KiB/s floats, -1 = unlimited; Deluge hands `int(value * 1024)` bytes/s to libtorrent,
which reads 0 as unlimited too, so a limit is never sent as 0 (nor anything below 1 KiB/s).

This module is the client (the session, the daemon connection, the transport); the units and the
answers it reads are adapters/clients/deluge/rpc.py, whose names are re-exported here.
"""
from __future__ import annotations

import itertools
import json
import logging
import re
import threading
import time
from typing import Any, Callable, List, Mapping, Optional

from adapters.clients.deluge.rpc import (
    DEFAULT_DAEMON_PORT, JSON_PATH, MAX_KIB, UNLIMITED, DelugeHost, DelugeRpcError, choose_host, from_deluge_kib,
    json_url, malformed, parse_bool, parse_host_status, parse_hosts, parse_json_rpc, parse_limit, parse_rate,
    parse_version, to_deluge_kib,
)
from adapters.clients.deluge.limit import DelugeLimit
from adapters.transport.http import HttpAnswer, HttpClient, HttpTransportError
from adapters.clients.login_gate import LoginGate
from adapters.clients.limit_methods import LimitMethods
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, DownloadClientError

log = logging.getLogger("plex_helper.deluge")

COOKIE = "_session_id"
# core.get_config_values and web.get_hosts answer in well under 10 KB
MAX_ANSWER_BYTES = 256 * 1024
NOT_AUTHENTICATED = 1
UNKNOWN_METHOD = 2
_COOKIE_VALUE = re.compile(r"[0-9A-Za-z]{1,200}")


# ---------------------------------------------------------------------------------------- the client


class DelugeClient(LimitMethods):
    """ClientAdapter, UploadLimitControl, DownloadLimitControl and TransferRates for Deluge 2 through
    its web UI. Deluge has no alternative speed mode."""

    def __init__(
        self,
        base_url: str,
        password: str,
        timeout_sec: float = 10.0,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        login_retry_sec: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
        daemon_host: Optional[str] = None,
    ) -> None:
        self._url = json_url(base_url)
        self._password = password
        self._daemon_host = (daemon_host or "").strip() or None
        self._http = HttpClient(timeout_sec, verify_tls, ca_file, max_body_bytes=MAX_ANSWER_BYTES)
        self._gate = LoginGate(login_retry_sec, clock)
        self._lock = threading.RLock()
        self._ids = itertools.count(1)
        self._session: Optional[str] = None  # the _session_id cookie's value
        self._daemon_ready = False  # the web UI is connected to the right daemon (as far as we know)
        self._daemon_label = ""  # "host:port" when we know which daemon it is

    def __repr__(self) -> str:
        return "DelugeClient(%r)" % self._url

    # ------------------------------------------------------------------------ ClientAdapter

    def describe(self) -> str:
        version = parse_version(self._call("daemon.get_version", []))
        where = " (daemon %s)" % self._daemon_label if self._daemon_label else ""
        return "Deluge %s%s, login: password" % (version, where)

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------------ limits and rates

    def limit_control(self, direction: Direction) -> DelugeLimit:
        """The LimitControl of one direction (Deluge has both)."""
        return DelugeLimit(self, direction)

    def current_upload_rate(self) -> SpeedLimit:
        return parse_rate(self._call("core.get_session_status", [["upload_rate"]]))

    def current_download_rate(self) -> SpeedLimit:
        return parse_rate(self._call("core.get_session_status", [["download_rate"]]), "download_rate")

    def config_values(self, key: str) -> Any:
        """core.get_config_values' answer for one key (for DelugeLimit)."""
        return self._call("core.get_config_values", [[key]])

    def set_config(self, values: Mapping[str, Any]) -> None:
        self._call("core.set_config", [dict(values)])

    # ------------------------------------------------------------------------ session

    def _call(self, method: str, params: List[Any]) -> Any:
        """One call, logged in and (for the daemon's methods) connected; re-login once, reconnect once."""
        daemon_call = not method.startswith(("web.", "auth."))
        with self._lock:
            if self._session is None:
                self._login()
            relogged = reconnected = False
            while True:
                try:
                    if daemon_call and not self._daemon_ready:
                        reconnected = True
                        self._connect_daemon()
                    return self._rpc(method, params)
                except DelugeRpcError as err:
                    if err.code == NOT_AUTHENTICATED and not relogged:
                        log.debug("Deluge at %s: not authenticated; logging in again", self._url)
                        relogged = True
                        self._session = None
                        self._login()
                        continue
                    if err.code == UNKNOWN_METHOD and daemon_call and not reconnected:
                        self._daemon_ready = False  # deluge-web (re)started and never connected
                        continue
                    raise self._rpc_failure(err, method) from None
                except DownloadClientError as exc:
                    # deluge-web lets a core call hang once its daemon went away: if it says it is not
                    # connected any more, connect and retry once
                    if not daemon_call or reconnected or exc.kind is not FailureKind.UNREACHABLE:
                        raise
                    if self._web_connected():
                        raise
                    log.debug("Deluge's web UI at %s lost its daemon; connecting again", self._url)
                    self._daemon_ready = False

    def _web_connected(self) -> bool:
        try:
            return parse_bool(self._rpc("web.connected", []), "web.connected")
        except (DelugeRpcError, DownloadClientError):
            return True  # cannot tell: keep the original error

    def _login(self) -> None:
        """Log in, or raise. After a failure, no attempt for login_retry_sec."""
        held = self._gate.held_back()
        if held is not None:
            raise DownloadClientError(FailureKind.REJECTED, "Deluge at %s: %s" % (self._url, held))
        try:
            result = self._rpc("auth.login", [self._password])
        except DelugeRpcError as err:
            raise self._rpc_failure(err, "auth.login") from None
        if result is True and self._session is not None:
            self._gate.succeeded()
            log.debug("logged in to Deluge at %s", self._url)
            return
        if result is False:
            self._gate.failed("wrong password")
            raise DownloadClientError(
                FailureKind.REJECTED, "Deluge's web UI rejected the password at %s" % self._url
            )
        self._gate.failed("unexpected answer")
        raise malformed(
            "Deluge answered the login at %s with something unexpected; is deluge_url its web UI address?" % self._url
        )

    def _connect_daemon(self) -> None:
        """Make sure the web UI is connected to a daemon (the one daemon_host names, if set)."""
        connected = parse_bool(self._rpc("web.connected", []), "web.connected")
        if connected and self._daemon_host is None:
            self._daemon_ready = True
            return
        hosts = parse_hosts(self._rpc("web.get_hosts", []))
        if self._daemon_host is not None:
            target = choose_host(hosts, self._daemon_host)
            if target is None:
                known = ", ".join(str(h) for h in hosts[:5]) or "none"
                raise DownloadClientError(
                    FailureKind.REJECTED,
                    "deluge daemon_host %r is not in the Connection Manager of Deluge's web UI at %s (it knows: "
                    "%s); add it there" % (self._daemon_host[:100], self._url, known),
                )
            status = self._host_status(target)
            if status == "Connected":
                self._ready(target)
                return
        else:
            if not hosts:
                raise DownloadClientError(
                    FailureKind.REJECTED,
                    "Deluge's web UI at %s is not connected to a daemon and knows none: add deluged in its "
                    "Connection Manager" % self._url,
                )
            statuses = [(h, self._host_status(h)) for h in hosts[:10]] if len(hosts) > 1 else [(hosts[0], "")]
            target, status = next(((h, s) for h, s in statuses if s in ("", "Online", "Connected")), statuses[0])
        result = self._rpc("web.connect", [target.host_id])
        if not isinstance(result, list):
            state = " (%s)" % (status or self._host_status(target))
            raise DownloadClientError(
                FailureKind.UNREACHABLE,
                "Deluge's web UI at %s could not connect to its daemon at %s%s: is deluged running, and are "
                "the host's user and password in the Connection Manager right?" % (self._url, target, state),
            )
        log.info("connected Deluge's web UI at %s to its daemon at %s", self._url, target)
        self._ready(target)

    def _ready(self, host: DelugeHost) -> None:
        self._daemon_ready = True
        self._daemon_label = str(host)

    def _host_status(self, host: DelugeHost) -> str:
        return parse_host_status(self._rpc("web.get_host_status", [host.host_id]))

    def _rpc_failure(self, err: DelugeRpcError, method: str) -> DownloadClientError:
        if err.code == NOT_AUTHENTICATED:
            return DownloadClientError(
                FailureKind.REJECTED, "Deluge at %s answered %s with \"Not authenticated\" even after a fresh login"
                % (self._url, method)
            )
        if err.code == UNKNOWN_METHOD:
            return malformed(
                "Deluge at %s does not know %s (is its web UI connected to its daemon?)" % (self._url, method)
            )
        return malformed("Deluge at %s answered %s with error code %s" % (self._url, method, err.code))

    def _rpc(self, method: str, params: List[Any]) -> Any:
        body = json.dumps({"method": method, "params": params, "id": next(self._ids)}).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self._session:
            headers["Cookie"] = "%s=%s" % (COOKIE, self._session)
        try:
            try:
                answer = self._http.request("POST", self._url, headers=headers, body=body)
            except HttpTransportError as exc:
                # a kept-alive connection deluge-web had closed: the request never arrived; send it once
                # more, except a login (a lost answer may still have counted)
                if not exc.connection_dropped or method == "auth.login":
                    raise
                answer = self._http.request("POST", self._url, headers=headers, body=body)
        except HttpTransportError as exc:
            raise DownloadClientError(
                FailureKind.UNREACHABLE, "Deluge not reachable at %s: %s" % (self._url, exc)
            ) from None
        self._take_cookie(answer)
        if answer.truncated:
            raise malformed("Deluge answered with more than %d bytes at %s" % (MAX_ANSWER_BYTES, self._url))
        if answer.status >= 500:
            raise DownloadClientError(FailureKind.UNREACHABLE, "Deluge answered %d at %s" % (answer.status, self._url))
        if answer.status in (401, 403):
            raise DownloadClientError(
                FailureKind.REJECTED,
                "Deluge's address %s refused the request (%d): is a proxy in front of it asking for a login?"
                % (self._url, answer.status),
            )
        if answer.status != 200:
            raise malformed(
                "Deluge answered %d at %s; is deluge_url its web UI address?" % (answer.status, self._url)
            )
        return parse_json_rpc(answer.body, method)

    def _take_cookie(self, answer: HttpAnswer) -> None:
        for header in answer.header_list("Set-Cookie"):
            name, sep, rest = header.partition("=")
            value = rest.split(";", 1)[0].strip()
            if sep and name.strip() == COOKIE and _COOKIE_VALUE.fullmatch(value):
                self._session = value



__all__ = [
    # this module's own
    "COOKIE", "MAX_ANSWER_BYTES", "NOT_AUTHENTICATED", "UNKNOWN_METHOD", "DelugeClient",
    # re-exported: adapters/clients/deluge/rpc.py
    "DEFAULT_DAEMON_PORT", "JSON_PATH", "MAX_KIB", "UNLIMITED", "DelugeHost", "DelugeRpcError", "choose_host",
    "from_deluge_kib", "json_url", "parse_bool", "parse_host_status", "parse_hosts", "parse_json_rpc", "parse_limit",
    "parse_rate", "parse_version", "to_deluge_kib",
]
