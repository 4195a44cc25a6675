"""Jellyfin's and Emby's session list read: a decoded GET /Sessions turned into PlaybackSession values.

Pure functions of the payload, the LAN networks and the wall clock (passed in): no transport here
(that is adapters/media/jellyfin/source.py). `parse_sessions` is what a poll uses, `describe_sessions_payload`
what --check prints.

Neither server says whether a client is local. Here a session is on the LAN when its
RemoteEndPoint lies in the server's own LocalNetworkSubnets (Jellyfin, where the API key may read
them), else in the private ranges (RFC 1918, loopback, link-local, IPv6 ULA), or in the user's
`lan_networks`. CGNAT / Tailscale (100.64.0.0/10) is remote unless listed.
"""
from __future__ import annotations

import ipaddress
import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Dict, Iterable, List, Optional, Sequence, Tuple

from adapters.media.jellyfin.kind import JELLYFIN, ServerKind
from adapters.transport.json_values import as_text
from domain.policies import MAX_SESSION_KBPS
from domain.sessions import IPNetwork, PlaybackSession

STALE_AFTER_SEC = 120.0  # no check-in for this long: the client is gone (peers drop them too)
DEFAULT_STREAM_KBPS = 8000

PRIVATE_NETWORKS: Tuple[IPNetwork, ...] = tuple(ipaddress.ip_network(n) for n in (
    "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "fc00::/7", "fe80::/10"))
LOOPBACK: Tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


class SessionPayloadError(ValueError):
    """The payload is not a session list (read_sessions reports it as MALFORMED)."""


# ----------------------------------------------------------------------------------- reading fields


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
    text = as_text(remote_end_point).strip()[:128]
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
                parsed.append(ipaddress.ip_network(as_text(entry).strip(), strict=False))
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
        wanted = as_text(play_state.get("MediaSourceId"))
        chosen = next((s for s in sources if wanted and as_text(s.get("Id")) == wanted), None)
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
        user=as_text(item.get("UserName")),
        player=as_text(item.get("Client")) or as_text(item.get("DeviceName")),
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
        who = "%s on %s" % (as_text(item.get("UserName")) or "?", as_text(item.get("Client")) or "?") if isinstance(
            item, dict) else "?"
        if session is None:
            lines.append("%s: skipped, %s" % (who, why))
        else:
            where = {True: "LAN", False: "remote", None: "unknown (counts as remote)"}[session.local]
            lines.append("%s: %s, %s: %s, %d kbit/s" % (who, session.state, where, why, session.bandwidth_kbps))
    warning = reverse_proxy_warning(addresses, kind)
    return tuple(lines) + ((warning,) if warning else ())


__all__ = [
    "DEFAULT_STREAM_KBPS", "LOOPBACK", "PRIVATE_NETWORKS", "STALE_AFTER_SEC", "LanNetworks", "SessionPayloadError",
    "describe_sessions_payload", "endpoint_address", "is_private_address", "judge_session",
    "parse_sessions", "parse_time", "reverse_proxy_warning",
]
