"""Where a request comes from, and whether that lets it in: the status server's defences against
web pages and LAN hosts it does not serve.

- DNS rebinding: a page at http://attacker.example:9911 whose name is made to resolve to this
  machine reaches the server with `Host: attacker.example:9911`, and the browser treats the answers
  as that page's own. So the server answers only Host names it serves (`ServedHosts`): localhost,
  its listen address, the machine's names and `status_allowed_hosts`. Any IP address literal is
  served: a browser's origin for an address is that address, which no one can rebind, and in a
  container the machine's address the user types is not one the container can list.
- Cross-site requests: a page on another origin may still POST to the server (a form, or fetch in
  no-cors mode). A browser says where a request comes from, and a page cannot forge it:
  `Sec-Fetch-Site` (current browsers) or else `Origin`. Requests that change anything must come
  from the same origin; a request with neither header is no browser's (curl, the CLI, Plex,
  Jellyfin, Emby) and passes on to the token and loopback rules.
- The override without a token: only from this machine, unless `status_allow_lan_override`.
"""
from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any, FrozenSet, Iterable, Optional, Tuple
from urllib.parse import urlsplit

WILDCARDS = ("", "0.0.0.0", "::")
DEFAULT_PORTS = {"http": 80, "https": 443}
# a proxy in front of the server makes every request look local: its headers say it is not
PROXY_HEADERS = ("Forwarded", "X-Forwarded-For", "X-Real-IP")
ALLOWED_HOSTS_SETTING = "status_allowed_hosts"
LAN_OVERRIDE_SETTING = "status_allow_lan_override"


def _plain_name(name: str) -> str:
    """Lower case, without the trailing dot of a fully qualified name."""
    return name.strip().lower().rstrip(".")


def split_host(host: str) -> Tuple[Optional[str], Optional[int]]:
    """(name, port) of a Host header value ('nas:9911', '[::1]:9911', 'nas'); (None, None) when it is
    not one. The name is lower case, an IPv6 address without its brackets."""
    text = host.strip()
    if not text or any(c in text for c in "/?#@\\ \t"):
        return None, None
    try:
        parts = urlsplit("//" + text)
        name, port = parts.hostname, parts.port
    except ValueError:
        return None, None
    return (_plain_name(name), port) if name else (None, None)


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False
    return True


def machine_names() -> Tuple[str, ...]:
    """This machine's host name and fully qualified name (looked up once, at start)."""
    names = []
    for lookup in (socket.gethostname, socket.getfqdn):
        try:
            names.append(lookup())
        except OSError:
            continue
    return tuple(names)


@dataclass(frozen=True)
class ServedHosts:
    """The Host names the server answers. `names` are plain (lower case, no trailing dot)."""

    names: FrozenSet[str]

    @classmethod
    def for_listen(cls, listen_host: str, allowed_hosts: Iterable[str] = (),
                   machine: Iterable[str] = ()) -> "ServedHosts":
        names = {"localhost"} | {_plain_name(n) for n in machine} | {_plain_name(n) for n in allowed_hosts}
        if listen_host not in WILDCARDS:
            names.add(_plain_name(listen_host))
        return cls(frozenset(n for n in names if n))

    def admits(self, host: Optional[str]) -> bool:
        """True for a Host this server answers. A request without Host (HTTP/1.0) is no browser's."""
        if host is None:
            return True
        name, _ = split_host(host)
        if name is None:
            return False
        return name in self.names or is_address(name)

    def describe(self) -> str:
        """'localhost, nas, nas.home.arpa and any IP address' for --check and the 421 answer."""
        return ", ".join(sorted(self.names)) + " and any IP address of this machine"


def refused_host_message(host: str) -> str:
    shown = host.strip()[:100]
    return ("this server does not answer for the host name %r (a defence against DNS rebinding); if that is "
            "how you reach it, through a reverse proxy or a name of your own, add it to %s in the config"
            % (shown, ALLOWED_HOSTS_SETTING))


def same_origin(origin: str, host: Optional[str]) -> bool:
    """True when `origin` (scheme://name[:port]) names the same server as the request's Host."""
    if host is None:
        return False
    try:
        parts = urlsplit(origin.strip())
        origin_name, origin_port = parts.hostname, parts.port
    except ValueError:
        return False
    if parts.scheme not in DEFAULT_PORTS or not origin_name:
        return False
    host_name, host_port = split_host(host)
    default = DEFAULT_PORTS[parts.scheme]  # behind a TLS proxy the page's origin is https
    return (_plain_name(origin_name) == host_name
            and (origin_port or default) == (host_port or default))


def cross_site_refusal(headers: Any) -> Optional[str]:
    """Why a request that changes something is refused as a browser's from another site; None when it
    comes from the same origin or from no browser at all."""
    site = headers.get("Sec-Fetch-Site")
    if site is not None:
        if site.strip().lower() in ("same-origin", "none"):  # 'none': typed by the user, a bookmark
            return None
        return "refused: a request from another site (Sec-Fetch-Site: %s); use the dashboard's own page" % site.strip()[:32]
    origin = headers.get("Origin")
    if origin is None or same_origin(origin, headers.get("Host")):
        return None
    return "refused: a request from another origin (%s); use the dashboard's own page" % origin.strip()[:100]


def from_this_machine(peer: str, headers: Any) -> bool:
    """True for a loopback peer that no proxy forwarded."""
    if any(headers.get(name) is not None for name in PROXY_HEADERS):
        return False
    try:
        return ipaddress.ip_address(peer.split("%", 1)[0]).is_loopback or peer.startswith("::ffff:127.")
    except ValueError:
        return False


LAN_OVERRIDE_REFUSAL = (
    "without a status_token the override is only accepted from this machine; set status_token in the config "
    "(the page asks for it), or set %s: true to let anyone on your network change it" % LAN_OVERRIDE_SETTING
)


__all__ = [
    "ALLOWED_HOSTS_SETTING", "LAN_OVERRIDE_REFUSAL", "LAN_OVERRIDE_SETTING", "ServedHosts", "cross_site_refusal",
    "from_this_machine", "machine_names", "refused_host_message", "same_origin", "split_host",
]
