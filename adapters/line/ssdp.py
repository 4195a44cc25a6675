"""Finding the router's UPnP description: an SSDP M-SEARCH and the answers to it (UPnP Device
Architecture 1.1, section 1.3: unicast answers `HTTP/1.1 200 OK` with LOCATION, ST, USN, SERVER).

The search goes to the SSDP multicast group by default; the address is a parameter so that tests
(and a user whose router answers only unicast) can name one host and port instead.
"""
from __future__ import annotations

import http.client
import io
import ipaddress
import socket
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple
from urllib.parse import urlsplit

SSDP_ADDRESS = ("239.255.255.250", 1900)
IGD_TYPES = (
    "urn:schemas-upnp-org:device:InternetGatewayDevice:2",
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
)
MAX_DATAGRAM = 8192  # an answer is a few hundred bytes; anything past this is not one
MAX_ANSWERS = 64  # a flood of answers ends the search early rather than holding the poll


@dataclass(frozen=True)
class SsdpAnswer:
    location: str  # the device description's URL
    search_target: str  # ST: what it answered as
    server: str = ""
    usn: str = ""


def search_message(search_target: str, host: Tuple[str, int], mx: int = 2) -> bytes:
    return ("M-SEARCH * HTTP/1.1\r\nHOST: %s:%d\r\nMAN: \"ssdp:discover\"\r\nMX: %d\r\nST: %s\r\n\r\n"
            % (host[0], host[1], mx, search_target)).encode("ascii")


def parse_answer(data: bytes, sender: Optional[str] = None) -> Optional[SsdpAnswer]:
    """The answer in one datagram, or None when it is not a usable one.

    Usable: a `200` status line, a LOCATION that is an http(s) URL with a host, and, when `sender`
    is given, that host being the sender's own address: a device may only point at itself, so
    another host on the network cannot send us to a description of its making.
    """
    if len(data) > MAX_DATAGRAM:
        return None
    # an HTTP answer in a datagram: the status line, then headers read by the stdlib's HTTP reader
    stream = io.BytesIO(data)
    status = stream.readline().decode("latin-1").split(None, 2)
    if len(status) < 2 or not status[0].upper().startswith("HTTP/1.") or status[1] != "200":
        return None
    try:
        message = http.client.parse_headers(stream)
    except (http.client.HTTPException, ValueError):
        return None
    headers = {name.strip().upper(): str(value).strip() for name, value in reversed(message.items())}
    location = headers.get("LOCATION", "")
    if not _points_at(location, sender):
        return None
    return SsdpAnswer(location, headers.get("ST", ""), _printable(headers.get("SERVER", "")),
                      _printable(headers.get("USN", "")))


def discover(address: Tuple[str, int] = SSDP_ADDRESS, wait_sec: float = 2.5,
             search_targets: Sequence[str] = IGD_TYPES, stop_after: int = MAX_ANSWERS) -> List[SsdpAnswer]:
    """The devices that answered an M-SEARCH for `search_targets` within `wait_sec`, first come
    first, one answer per LOCATION, at most `stop_after` (the search ends when it has them).
    Raises OSError when the search cannot be sent at all."""
    answers: List[SsdpAnswer] = []
    seen = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        if _is_multicast(address[0]):
            # 2 hops, as the spec says: a router one step away answers, the rest of the Internet never hears
            sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 2)
        else:
            sock.bind(("127.0.0.1" if _is_loopback(address[0]) else "", 0))
        for target in search_targets:
            sock.sendto(search_message(target, address), address)
        deadline = time.monotonic() + wait_sec
        while len(answers) < min(stop_after, MAX_ANSWERS):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            sock.settimeout(left)
            try:
                data, sender = sock.recvfrom(MAX_DATAGRAM + 1)
            except socket.timeout:
                break
            answer = parse_answer(data, sender[0])
            if answer is not None and answer.search_target in search_targets and answer.location not in seen:
                seen.add(answer.location)
                answers.append(answer)
    return answers


def _points_at(location: str, sender: Optional[str]) -> bool:
    try:
        parts = urlsplit(location)
        _ = parts.port  # raises ValueError for a port that is not a number
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return False
    return sender is None or parts.hostname == sender


def _is_multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _printable(text: str) -> str:
    return "".join(c for c in text if c.isprintable())[:120]


def first_router(address: Tuple[str, int] = SSDP_ADDRESS, wait_sec: float = 2.5) -> List[SsdpAnswer]:
    """The first router that answers (a home has one), without waiting out the rest of `wait_sec`."""
    return discover(address, wait_sec, stop_after=1)
