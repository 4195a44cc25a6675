"""Playback sessions as Plex reports them, one observation of them, and the rule for 'remote'."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from typing import FrozenSet, Iterable, Optional, Tuple, Union

IPNetwork = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]


@dataclass(frozen=True)
class PlaybackSession:
    """One playback session. `local` and `location` are None when Plex did not say."""

    state: str  # "playing", "paused", "buffering", ...
    local: Optional[bool] = None  # Player.local
    location: Optional[str] = None  # Session.location: "lan", "wan", "cellular"
    relayed: bool = False
    bandwidth_kbps: int = 0  # Session.bandwidth, Plex's reserved estimate in kbit/s
    user: str = ""
    player: str = ""
    address: str = ""  # Player.address, without any ::ffff: prefix


@dataclass(frozen=True)
class Observation:
    """What one read of the stream source gave: the sessions, or the reason it failed."""

    sessions: Tuple[PlaybackSession, ...] = ()
    failure: Optional[str] = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @classmethod
    def of(cls, sessions: Iterable[PlaybackSession]) -> "Observation":
        return cls(sessions=tuple(sessions))

    @classmethod
    def failed(cls, reason: str) -> "Observation":
        return cls(failure=reason)


def _in_networks(address: str, networks: Tuple[IPNetwork, ...]) -> bool:
    if not networks or not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


@dataclass(frozen=True)
class RemoteStreamRule:
    """Decides which sessions are remote streams that compete with uploads.

    A session counts when its state is one of `count_states`, its user is not ignored, its player
    address is not inside `lan_networks`, and Plex calls it remote: `location` anything but "lan",
    or `local` false, or relayed. Without a location, `local` decides; with neither, it counts
    (throttling a local stream costs less than buffering a remote one).
    """

    count_states: FrozenSet[str] = frozenset({"playing"})
    lan_networks: Tuple[IPNetwork, ...] = ()
    ignore_users: FrozenSet[str] = field(default_factory=frozenset)

    def is_remote(self, session: PlaybackSession) -> bool:
        if session.state not in self.count_states:
            return False
        if session.user in self.ignore_users:
            return False
        if _in_networks(session.address, self.lan_networks):
            return False
        if session.relayed or session.local is False:
            return True
        if session.location is None:
            return session.local is None
        return session.location != "lan"

    def remote_sessions(self, sessions: Iterable[PlaybackSession]) -> Tuple[PlaybackSession, ...]:
        return tuple(s for s in sessions if self.is_remote(s))
