"""Jellyfin and Emby as stream sources: the transport that fetches GET /Sessions (and the server's
LAN subnets) and hands the payload to adapters/media/jellyfin/sessions.py.

What differs between the two servers is stated once, in `ServerKind` (adapters/media/jellyfin/kind.py).
Parsing (`parse_sessions`) is a pure function of the payload, the LAN networks and the wall clock,
separate from this transport. The adapter raises only StreamSourceError, whose messages never
contain the API key.

The names other modules import from here (the kinds, the session parsing, the webhook reading)
are re-exported, so `from adapters.media.jellyfin.source import ...` keeps working.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from adapters.transport.headers import unfit_for_header
from adapters.transport.http import HttpAnswer, HttpClient, HttpTransportError
from adapters.media.jellyfin.kind import EMBY, JELLYFIN, KINDS, ServerKind
from adapters.media.jellyfin.sessions import (
    DEFAULT_STREAM_KBPS, LOOPBACK, PRIVATE_NETWORKS, STALE_AFTER_SEC, LanNetworks, SessionPayloadError,
    describe_sessions_payload, endpoint_address, is_private_address, judge_session, parse_sessions, parse_time,
    reverse_proxy_warning,
)
from adapters.media.jellyfin.webhook import is_playback_webhook
from adapters.transport.json_values import JsonBoundsError, as_text, decode_bounded
from domain.ports import FailureKind, StreamSourceError
from domain.sessions import IPNetwork, PlaybackSession

MAX_BODY_BYTES = 8 * 1024 * 1024  # a session is a few KiB (more with MediaStreams); 200 fit easily
NETWORKS_REFRESH_SEC = 3600.0  # how long the server's LAN subnets are trusted before asking again


@dataclass(frozen=True)
class ServerInfo:
    product: str
    version: str
    name: str

    def __str__(self) -> str:
        return "%s %s%s" % (self.product, self.version, " (%s)" % self.name if self.name else "")


def server_base_url(base_url: str, kind: ServerKind) -> str:
    """The cleaned base URL (no userinfo, query or fragment: they could hold secrets). ValueError
    for anything that is not http(s)."""
    parts = urlsplit(base_url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise ValueError("the %s URL must look like http://host:8096 or https://host:8920" % kind.label)
    host = parts.hostname if ":" not in parts.hostname else "[%s]" % parts.hostname
    return "%s://%s%s%s" % (parts.scheme, host, "" if port is None else ":%d" % port, parts.path.rstrip("/"))


def check_api_key(api_key: str, kind: ServerKind) -> str:
    api_key = api_key.strip()
    if not api_key or unfit_for_header(api_key, token=True, refuse='"\\'):  # also goes in Token="..."
        raise ValueError("the %s API key is empty or contains characters that cannot go in an HTTP header" % kind.label)
    return api_key


class JellyfinStreamSource:
    """StreamSource on a Jellyfin or Emby server. One kept-alive connection for the adapter's life."""

    def __init__(
        self,
        kind: ServerKind,
        base_url: str,
        api_key: str,
        name: str = "",
        timeout_sec: float = 10.0,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        lan_networks: Sequence[IPNetwork] = (),
        default_stream_kbps: int = DEFAULT_STREAM_KBPS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.kind = kind
        self.url = server_base_url(base_url, kind)
        self.name = name or kind.name
        self._headers = dict(kind.auth_headers(check_api_key(api_key, kind)), Accept="application/json")
        self._configured = tuple(lan_networks)
        self.default_stream_kbps = max(1, int(default_stream_kbps))
        self._clock = clock
        self._http = HttpClient(timeout_sec, verify_tls, ca_file, max_body_bytes=MAX_BODY_BYTES)
        self._networks: Optional[LanNetworks] = None
        self._networks_until = 0.0

    def read_sessions(self) -> Tuple[PlaybackSession, ...]:
        payload = self._get_json(self.kind.api_prefix + "/Sessions" + self.kind.sessions_query, "session JSON")
        try:
            return parse_sessions(
                payload, self.kind, self.networks(), self._clock(), self.name, self.default_stream_kbps)
        except SessionPayloadError as exc:
            raise StreamSourceError(FailureKind.MALFORMED, "%s returned something that is not a session list (%s)"
                                    % (self.kind.label, exc)) from None

    def describe_sessions(self) -> Tuple[str, ...]:
        """For --check: one line per session (see describe_sessions_payload), then where the LAN
        networks came from."""
        payload = self._get_json(self.kind.api_prefix + "/Sessions" + self.kind.sessions_query, "session JSON")
        networks = self.networks()
        try:
            lines = describe_sessions_payload(payload, self.kind, networks, self._clock(), self.default_stream_kbps)
        except SessionPayloadError as exc:
            raise StreamSourceError(FailureKind.MALFORMED, str(exc)) from None
        return lines + ("LAN = %s%s" % (networks.source, " + lan_networks" if networks.configured else ""),)

    def server_info(self) -> ServerInfo:
        data = self._get_json(self.kind.api_prefix + "/System/Info/Public", "server information", auth=False)
        version = data.get("Version") if isinstance(data, dict) else None
        if not isinstance(version, str) or not version:
            raise StreamSourceError(FailureKind.MALFORMED, "%s returned something that is not server information at %s"
                                    % (self.kind.label, self.url))
        return ServerInfo(as_text(data.get("ProductName")) or self.kind.label, version, as_text(data.get("ServerName")))

    def server_version(self) -> str:
        return self.server_info().version

    def networks(self) -> LanNetworks:
        """The LAN networks, with the server's LocalNetworkSubnets when the key may read them (asked
        again every NETWORKS_REFRESH_SEC; an unreachable server is asked again on the next read)."""
        now = self._clock()
        if self._networks is not None and now < self._networks_until:
            return self._networks
        subnets: Optional[Sequence[str]] = None
        try:
            config = self._get_json(self.kind.api_prefix + self.kind.network_config_path, "configuration JSON")
            found = config.get("LocalNetworkSubnets") if isinstance(config, dict) else None
            subnets = [s for s in found if isinstance(s, str)] if isinstance(found, list) else None
        except StreamSourceError as exc:
            if exc.kind is FailureKind.UNREACHABLE:
                return self._networks or LanNetworks.build(None, self._configured)
        self._networks = LanNetworks.build(subnets, self._configured)
        self._networks_until = now + NETWORKS_REFRESH_SEC
        return self._networks

    def close(self) -> None:
        self._http.close()

    def _get_json(self, path: str, what: str, auth: bool = True) -> Any:
        body = self._get(path, auth).body
        try:
            return decode_bounded(body)
        except JsonBoundsError as exc:
            reason = str(exc)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            reason = _describe_body(body)
        raise StreamSourceError(FailureKind.MALFORMED, "%s returned something that is not %s (%s)"
                                % (self.kind.label, what, reason))

    def _get(self, path: str, auth: bool) -> HttpAnswer:
        """A complete 200 answer to GET path; every other outcome is a StreamSourceError."""
        label, url = self.kind.label, self.url
        headers = self._headers if auth else {"Accept": "application/json"}
        try:
            answer = self._http.get(url + path, headers, MAX_BODY_BYTES)
        except HttpTransportError as exc:
            raise StreamSourceError(FailureKind.UNREACHABLE, "%s not reachable at %s: %s" % (label, url, exc)) from None
        status = answer.status
        if status in (401, 403):
            raise StreamSourceError(FailureKind.REJECTED, "%s rejected the API key (%d) at %s: check the API key"
                                    % (label, status, url))
        if status >= 500:
            raise StreamSourceError(FailureKind.UNREACHABLE, "%s answered %d at %s" % (label, status, url))
        if status != 200:
            raise StreamSourceError(FailureKind.MALFORMED, "%s answered %d at %s (is this the %s server's address?)"
                                    % (label, status, url, label))
        if answer.truncated:
            raise StreamSourceError(FailureKind.MALFORMED, "%s sent a body over %d bytes" % (label, MAX_BODY_BYTES))
        return answer


def _describe_body(body: bytes) -> str:
    head = body.lstrip()[:64].lower()
    if not head:
        return "an empty body"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    return "invalid or truncated JSON"


__all__ = [
    # this module's own
    "MAX_BODY_BYTES", "NETWORKS_REFRESH_SEC", "JellyfinStreamSource", "ServerInfo", "check_api_key",
    "server_base_url",
    # re-exported: adapters/media/jellyfin/kind.py
    "EMBY", "JELLYFIN", "KINDS", "ServerKind",
    # re-exported: adapters/media/jellyfin/sessions.py
    "DEFAULT_STREAM_KBPS", "LOOPBACK", "PRIVATE_NETWORKS", "STALE_AFTER_SEC", "LanNetworks", "SessionPayloadError",
    "describe_sessions_payload", "endpoint_address", "is_private_address", "judge_session", "parse_sessions",
    "parse_time", "reverse_proxy_warning",
    # re-exported: adapters/media/jellyfin/webhook.py
    "is_playback_webhook",
]
