"""Jellyfin and Emby as stream sources: GET /Sessions turned into PlaybackSession values.

Both servers answer with the same SessionInfo list; what differs (paths, how the API key travels,
the push channel's address) is stated once, in `ServerKind`. Parsing (`parse_sessions`) is a pure
function of the payload, the LAN networks and the wall clock, separate from the transport.

Neither server says whether a client is local. Here a session is on the LAN when its
RemoteEndPoint lies in the server's own LocalNetworkSubnets (Jellyfin, where the API key may read
them), else in the private ranges (RFC 1918, loopback, link-local, IPv6 ULA), or in the user's
`lan_networks`. CGNAT / Tailscale (100.64.0.0/10) is remote unless listed. The adapter raises only
StreamSourceError, whose messages never contain the API key.
"""
from __future__ import annotations

import ipaddress
import json
import math
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple
from urllib.parse import parse_qs, urlsplit

from adapters.http import HttpClient, HttpTransportError
from adapters.http_request_reader import RequestError
from adapters.webhook_body import json_object, multipart_field
from domain.policies import MAX_SESSION_KBPS
from domain.ports import FailureKind, StreamSourceError
from domain.sessions import IPNetwork, PlaybackSession

MAX_BODY_BYTES = 8 * 1024 * 1024  # a session is a few KiB (more with MediaStreams); 200 fit easily
STALE_AFTER_SEC = 120.0  # no check-in for this long: the client is gone (peers drop them too)
NETWORKS_REFRESH_SEC = 3600.0  # how long the server's LAN subnets are trusted before asking again
DEFAULT_STREAM_KBPS = 8000

PRIVATE_NETWORKS: Tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10"))
LOOPBACK: Tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


@dataclass(frozen=True)
class ServerKind:
    """Everything that differs between Jellyfin and Emby, in one place."""

    name: str  # the config's `type`
    label: str  # for messages
    api_prefix: str  # before every API path
    push_path: str  # the WebSocket endpoint
    push_key_param: str  # the query parameter that carries the API key on the WebSocket
    push_device_param: Optional[str]  # Emby wants a device id on the WebSocket; Jellyfin 10.8+ ignores it
    network_config_path: str  # where LocalNetworkSubnets can be read (admin / API key)
    sessions_query: str  # Jellyfin filters server-side; Emby's parameter is not documented

    def auth_headers(self, api_key: str) -> Dict[str, str]:
        # Jellyfin: only Token in the Authorization header (Client/Device would register a device for
        # the key; the server fills them in for API keys). X-Emby-Token is legacy there (off from 12.0).
        if self.name == "jellyfin":
            return {"Authorization": 'MediaBrowser Token="%s"' % api_key}
        return {"X-Emby-Token": api_key}


JELLYFIN = ServerKind("jellyfin", "Jellyfin", "", "/socket", "ApiKey", None,
                      "/System/Configuration/network", "?activeWithinSeconds=960")
EMBY = ServerKind("emby", "Emby", "/emby", "/embywebsocket", "api_key", "deviceId", "/System/Configuration", "")
KINDS = {JELLYFIN.name: JELLYFIN, EMBY.name: EMBY}


class SessionPayloadError(ValueError):
    """The payload is not a session list (read_sessions reports it as MALFORMED)."""


# ----------------------------------------------------------------------------------- reading fields


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def _flag(value: object) -> Optional[bool]:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return {"true": True, "false": False}.get(value.strip().lower())
    return None


def _positive(value: object) -> float:
    """A positive finite number from a JSON number or numeric string; 0 for anything else."""
    if isinstance(value, bool):
        return 0.0
    if isinstance(value, str):
        try:
            value = float(value.strip()[:32])
        except ValueError:
            return 0.0
    if isinstance(value, (int, float)) and math.isfinite(value) and value > 0:
        return float(value)
    return 0.0


_ISO = re.compile(r"(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(?:[.,](\d{1,9}))?\s*(Z|[+-]\d\d:?\d\d)?$", re.I)


def parse_time(value: object) -> Optional[float]:
    """Seconds since the epoch from .NET's ISO 8601 ('2024-05-01T20:04:05.1234567Z', seven digits of
    fraction, which Python 3.10's fromisoformat refuses); None when absent or unreadable. No zone
    means UTC (what both servers send)."""
    if not isinstance(value, str):
        return None
    match = _ISO.match(value.strip()[:64])
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    try:
        moment = datetime(int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=timezone.utc)
    except ValueError:
        return None
    seconds = moment.timestamp() + (float("0." + fraction) if fraction else 0.0)
    if zone and zone.upper() != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        seconds -= sign * (int(digits[:2]) * 3600 + int(digits[2:]) * 60)
    return seconds


def endpoint_address(remote_end_point: object) -> str:
    """The bare IP of a RemoteEndPoint: '[2001:db8::1]:51234' -> '2001:db8::1', '10.0.0.5:51234' ->
    '10.0.0.5', '::ffff:10.0.0.5' -> '10.0.0.5'. Anything that is not an IP comes back stripped."""
    text = _text(remote_end_point).strip()[:128]
    if text.startswith("["):
        text = text[1:].split("]", 1)[0]
    elif text.count(":") == 1:  # IPv4 (or a host name) with a port
        text = text.split(":", 1)[0]
    text = text.split("%", 1)[0]  # an IPv6 zone index
    try:
        ip = ipaddress.ip_address(text)
    except ValueError:
        return text
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ip)


# ----------------------------------------------------------------------------------- LAN networks


@dataclass(frozen=True)
class LanNetworks:
    """What counts as the LAN for one server: the server's own subnets or the private ranges
    (`source` says which), loopback always, plus the user's `lan_networks`."""

    networks: Tuple[IPNetwork, ...]
    source: str
    configured: Tuple[IPNetwork, ...] = ()

    @classmethod
    def build(
        cls, server_subnets: Optional[Sequence[str]] = None, configured: Iterable[IPNetwork] = ()
    ) -> "LanNetworks":
        parsed: List[IPNetwork] = []
        for entry in server_subnets or ():
            try:
                parsed.append(ipaddress.ip_network(_text(entry).strip(), strict=False))
            except ValueError:
                continue  # Jellyfin also accepts names of interfaces here: nothing to compare with
        if parsed:
            return cls(tuple(parsed) + LOOPBACK, "the server's LocalNetworkSubnets", tuple(configured))
        return cls(PRIVATE_NETWORKS + LOOPBACK, "the private ranges", tuple(configured))

    def locate(self, address: str) -> Tuple[Optional[bool], str]:
        """(True for LAN / False for outside / None when the address is no IP, why in words)."""
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return None, "no IP address to judge (%r)" % address[:40] if address else "no RemoteEndPoint"
        for net in self.configured:
            if ip.version == net.version and ip in net:
                return True, "%s is in lan_networks (%s)" % (address, net)
        for net in self.networks:
            if ip.version == net.version and ip in net:
                return True, "%s is in %s (%s)" % (address, self.source, net)
        return False, "%s is outside %s" % (address, self.source)


def is_private_address(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == n.version and ip in n for n in PRIVATE_NETWORKS + LOOPBACK)


def reverse_proxy_warning(addresses: Sequence[str], kind: ServerKind = JELLYFIN) -> Optional[str]:
    """For --check: a warning when two or more sessions all show one private address, which is what a
    reverse proxy in front of the server looks like; None otherwise."""
    found = {a for a in addresses if a}
    if len([a for a in addresses if a]) < 2 or len(found) != 1:
        return None
    address = found.pop()
    if not is_private_address(address):
        return None
    setting = "KnownProxies (Dashboard > Networking)" if kind is JELLYFIN else "the LAN networks and proxy settings"
    return ("every %s session comes from %s: a reverse proxy may hide the clients' addresses, so remote "
            "streams would look local; set %s's %s" % (kind.label, address, kind.label, setting))


# ----------------------------------------------------------------------------------- sessions


def _bitrate_kbps(item: Dict[str, Any], session: Dict[str, Any], play_state: Dict[str, Any], default_kbps: int) -> int:
    """TranscodingInfo.Bitrate, else the playing media source's Bitrate, else the sum of its streams'
    BitRate (all bits/s), else the default; in kbit/s, clamped like Plex's."""
    bits = 0.0
    transcoding = session.get("TranscodingInfo")
    if isinstance(transcoding, dict):
        bits = _positive(transcoding.get("Bitrate"))
    if bits < 1000:
        listed = item.get("MediaSources")
        sources = [s for s in listed[:64] if isinstance(s, dict)] if isinstance(listed, list) else []
        wanted = _text(play_state.get("MediaSourceId"))
        chosen = next((s for s in sources if wanted and _text(s.get("Id")) == wanted), None)
        holder = chosen or (sources[0] if sources else item)
        bits = _positive(holder.get("Bitrate"))
        streams = holder.get("MediaStreams")
        if bits < 1000 and isinstance(streams, list):
            bits = sum(_positive(s.get("BitRate")) for s in streams[:64] if isinstance(s, dict))
    # under 1 kbit/s is no real stream's rate: a placeholder, so the estimate is better than it
    kbps = bits / 1000.0 if bits >= 1000 else default_kbps
    return int(max(1, min(kbps, MAX_SESSION_KBPS)))


def judge_session(
    item: object, networks: LanNetworks, now: float, server: str = "",
    default_stream_kbps: int = DEFAULT_STREAM_KBPS, stale_after_sec: float = STALE_AFTER_SEC,
) -> Tuple[Optional[PlaybackSession], str]:
    """One session entry: (the PlaybackSession, where it is and why) or (None, why it is skipped)."""
    if not isinstance(item, dict):
        return None, "not a session object"
    playing = item.get("NowPlayingItem")
    if not isinstance(playing, dict):
        return None, "nothing playing"
    seen = [t for t in (parse_time(item.get("LastPlaybackCheckIn")), parse_time(item.get("LastActivityDate")))
            if t is not None]
    if seen and now - max(seen) > stale_after_sec:
        return None, "stale (no check-in for %d s)" % (now - max(seen))
    play_state = item.get("PlayState")
    play_state = play_state if isinstance(play_state, dict) else {}
    address = endpoint_address(item.get("RemoteEndPoint"))
    local, why = networks.locate(address)
    session = PlaybackSession(
        state="paused" if _flag(play_state.get("IsPaused")) is True else "playing",
        local=local,
        location=None if local is None else ("lan" if local else "wan"),
        bandwidth_kbps=_bitrate_kbps(playing, item, play_state, default_stream_kbps),
        user=_text(item.get("UserName")),
        player=_text(item.get("Client")) or _text(item.get("DeviceName")),
        address=address,
        server=server,
    )
    return session, why


def parse_sessions(
    payload: object, kind: ServerKind, networks: LanNetworks, now: float, server: str = "",
    default_stream_kbps: int = DEFAULT_STREAM_KBPS, stale_after_sec: float = STALE_AFTER_SEC,
) -> Tuple[PlaybackSession, ...]:
    """The playing and paused sessions of a decoded /Sessions answer.

    Strict about the envelope (a JSON list: anything else is not a session list, and reading it as
    "nobody streams" would lift the throttle on a misread), tolerant inside an entry (odd types read
    defensively; entries without NowPlayingItem, stale ones and non-objects skipped).
    """
    if not isinstance(payload, list):
        raise SessionPayloadError("%s's session list is not a JSON list" % kind.label)
    judged = (judge_session(item, networks, now, server, default_stream_kbps, stale_after_sec) for item in payload)
    return tuple(session for session, _ in judged if session is not None)


def describe_sessions_payload(payload: object, kind: ServerKind, networks: LanNetworks, now: float,
                              default_stream_kbps: int = DEFAULT_STREAM_KBPS) -> Tuple[str, ...]:
    """One line per session entry for --check: who, where from, and whether it is on the LAN and why;
    skipped entries say why they are skipped. A reverse-proxy warning comes last when it applies."""
    if not isinstance(payload, list):
        raise SessionPayloadError("%s's session list is not a JSON list" % kind.label)
    lines, addresses = [], []
    for item in payload:
        session, why = judge_session(item, networks, now, "", default_stream_kbps)
        if isinstance(item, dict):
            addresses.append(endpoint_address(item.get("RemoteEndPoint")))
        who = "%s on %s" % (_text(item.get("UserName")) or "?", _text(item.get("Client")) or "?") if isinstance(
            item, dict) else "?"
        if session is None:
            lines.append("%s: skipped, %s" % (who, why))
        else:
            where = {True: "LAN", False: "remote", None: "unknown (counts as remote)"}[session.local]
            lines.append("%s: %s, %s: %s, %d kbit/s" % (who, session.state, where, why, session.bandwidth_kbps))
    warning = reverse_proxy_warning(addresses, kind)
    return tuple(lines) + ((warning,) if warning else ())


# ----------------------------------------------------------------------------------- webhooks

_JELLYFIN_EVENTS = {"playbackstart", "playbackstop"}
_EMBY_EVENTS = {"playback.start", "playback.stop", "playback.pause", "playback.unpause"}


def is_playback_webhook(content_type: str, body: bytes) -> Optional[str]:
    """A trigger reason ('jellyfin webhook PlaybackStart', 'emby webhook playback.start') when the body
    is a playback event of the Jellyfin Webhook plugin (its `NotificationType`, as JSON or a form) or
    of Emby (`Event`, as JSON or the `data` part of multipart/form-data); None for anything else,
    Plex's webhook included, so the caller can try Plex's reading next. Never raises."""
    media_type = content_type.split(";", 1)[0].strip().lower()
    try:
        if media_type == "multipart/form-data":
            try:
                raw = multipart_field(content_type, body, "data")
            except RequestError:
                return None  # Plex's webhook sends a `payload` part instead
            data = json_object(raw, "the webhook payload")
        elif media_type == "application/x-www-form-urlencoded":
            fields = parse_qs(body.decode("utf-8", "replace")[:65536], max_num_fields=200)
            data = {k: v[-1] for k, v in fields.items()}
        elif media_type in ("application/json", "text/plain", ""):
            data = json_object(body, "the webhook payload")
        else:
            return None
    except (RequestError, ValueError):
        return None
    notification = data.get("NotificationType")
    if isinstance(notification, str) and notification.strip().lower() in _JELLYFIN_EVENTS:
        return "jellyfin webhook %s" % notification.strip()[:40]
    event = data.get("Event")
    if isinstance(event, str) and event.strip().lower() in _EMBY_EVENTS:
        return "emby webhook %s" % event.strip().lower()
    return None


# ----------------------------------------------------------------------------------- the adapter


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
    if not api_key or any(not (" " < ch < "\x7f") or ch in '"\\' for ch in api_key):
        raise ValueError("the %s API key is empty or contains characters that cannot go in an HTTP header" % kind.label)
    return api_key


class JellyfinStreamSource:
    """StreamSource on a Jellyfin or Emby server. One keep-alive pool for the adapter's life."""

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
        return ServerInfo(_text(data.get("ProductName")) or self.kind.label, version, _text(data.get("ServerName")))

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
        body = self._get(path, auth)
        try:
            return json.loads(body)
        except (ValueError, RecursionError):
            raise StreamSourceError(FailureKind.MALFORMED, "%s returned something that is not %s (%s)"
                                    % (self.kind.label, what, _describe_body(body))) from None

    def _get(self, path: str, auth: bool) -> bytes:
        label, url = self.kind.label, self.url
        headers = self._headers if auth else {"Accept": "application/json"}
        try:
            answer = self._http.request("GET", url + path, headers=headers, max_body_bytes=MAX_BODY_BYTES)
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
        return answer.body


def _describe_body(body: bytes) -> str:
    head = body.lstrip()[:64].lower()
    if not head:
        return "an empty body"
    if head.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    return "invalid or truncated JSON"
