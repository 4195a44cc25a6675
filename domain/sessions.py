"""Playback sessions as Plex reports them, one observation of them, and the rule for 'remote'."""
from __future__ import annotations

import enum
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
    server: str = ""  # the configured name of the media server that reported it


def _in_networks(address: str, networks: Tuple[IPNetwork, ...]) -> bool:
    if not networks or not address:
        return False
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip.version == net.version and ip in net for net in networks)


class SessionReason(enum.Enum):
    """Why a session counts as a remote stream or not: the first part of the rule that decided."""

    # left out by the configuration
    STATE_NOT_COUNTED = "state not in count_states"
    IGNORED_USER = "user in ignore_users"
    IN_LAN_NETWORKS = "address in lan_networks"
    # left out because Plex calls it local
    LOCATION_LAN = "location lan"
    PLAYER_LOCAL = "Player.local true"
    # counted because Plex calls it remote
    RELAYED = "relayed"
    PLAYER_NOT_LOCAL = "Player.local false"
    LOCATION_REMOTE = "location not lan"
    UNKNOWN_LOCATION = "Plex did not say where"

    @property
    def counts(self) -> bool:
        return self._counts  # type: ignore[attr-defined,no-any-return]  # set below: a set lookup hashes in Python


_COUNTING = frozenset(
    {SessionReason.RELAYED, SessionReason.PLAYER_NOT_LOCAL, SessionReason.LOCATION_REMOTE, SessionReason.UNKNOWN_LOCATION}
)
for _reason in SessionReason:
    _reason._counts = _reason in _COUNTING  # type: ignore[attr-defined]


@dataclass(frozen=True)
class SessionVerdict:
    """One session, and why it counts as a remote stream or not. `counts` follows from `reason`."""

    session: PlaybackSession
    reason: SessionReason

    @property
    def counts(self) -> bool:
        return self.reason.counts


@dataclass(frozen=True)
class RemoteStreamRule:
    """Decides which sessions are remote streams that compete with uploads.

    A session counts when its state is one of `count_states`, its user is not ignored, its player
    address is not inside `lan_networks`, and Plex calls it remote: `location` anything but "lan",
    or `local` false, or relayed. Without a location, `local` decides; with neither, it counts
    (throttling a local stream costs less than buffering a remote one).

    A caller may rely on: `classify` gives one verdict per session, in order, whose reason is the
    first of those checks (in that order) that decided; `is_remote` and `remote_sessions` agree
    with it (`remote_sessions` keeps exactly the sessions whose verdict counts, in order).
    """

    count_states: FrozenSet[str] = frozenset({"playing"})
    lan_networks: Tuple[IPNetwork, ...] = ()
    ignore_users: FrozenSet[str] = field(default_factory=frozenset)

    def reason(self, session: PlaybackSession) -> SessionReason:
        if session.state not in self.count_states:
            return SessionReason.STATE_NOT_COUNTED
        if session.user in self.ignore_users:
            return SessionReason.IGNORED_USER
        if _in_networks(session.address, self.lan_networks):
            return SessionReason.IN_LAN_NETWORKS
        if session.relayed:
            return SessionReason.RELAYED
        if session.local is False:
            return SessionReason.PLAYER_NOT_LOCAL
        if session.location is None:
            return SessionReason.UNKNOWN_LOCATION if session.local is None else SessionReason.PLAYER_LOCAL
        return SessionReason.LOCATION_LAN if session.location == "lan" else SessionReason.LOCATION_REMOTE

    def is_remote(self, session: PlaybackSession) -> bool:
        return self.reason(session).counts

    def classify(self, sessions: Iterable[PlaybackSession]) -> Tuple[SessionVerdict, ...]:
        return tuple(SessionVerdict(s, self.reason(s)) for s in sessions)

    def remote_sessions(self, sessions: Iterable[PlaybackSession]) -> Tuple[PlaybackSession, ...]:
        return tuple(s for s in sessions if self.is_remote(s))
