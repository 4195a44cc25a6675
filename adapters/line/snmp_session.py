"""One SNMP v2c agent's session, kept from one reading to the next: a UDP socket connected to the
agent's address (looked up once), and each GET (built and encoded once per request id).

Every byte is pysnmp's and pyasn1's: the messages (adapters/line/snmp_messages.py) are pysnmp's own
types (its proto API), encoded and decoded by pyasn1's BER codec. Ours is only the exchange around
them: send, wait for the datagram that answers our request id (dropping stale and foreign ones),
time out and retry.

Why not pysnmp's hlapi on an asyncio loop: for one request and its answer the event loop, the
dispatcher and its transport cost more CPU than the exchange itself, and the hlapi decodes each
answer more than once (a reading costs about 0.5 ms of CPU that way, 0.25-0.3 ms this way). The
hlapi also loads much more of pysnmp (about 120 modules, 8 MB of memory in the running daemon, kept
for months); the proto API and pyasn1 load about 40 modules, 2 MB.

A session that failed to reach the agent is closed by its owner, so the next reading starts afresh
(a new socket, the name looked up again: the agent may have moved). One caller at a time (the meter
holds a lock). Imported only when an SNMP meter is first used (it loads pysnmp).
"""
from __future__ import annotations

import socket
import time
import weakref
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from adapters.line.snmp_messages import MAX_ANSWER, STALE, V2C, EncodedRequests, Row, encoded, read_answer
from adapters.line.snmp import printable
from domain.ports import FailureKind, LineMeterError

MAX_INTERFACES = 4096  # a walk stops here: an agent that never ends its table cannot hold us
MAX_REQUESTS = 8  # distinct GETs kept built (the meter asks at most three)
MAX_STRAYS = 32  # datagrams that are not our answer, dropped per request before we give up
BULK_ROWS = 32  # rows a GetBulk of a walk asks for at once
REFUSED = (6, 16)  # error-status noAccess, authorizationError


class SnmpSession:
    """GETs and walks against one agent. Every failure is a LineMeterError; after one of kind
    UNREACHABLE the owner should close the session and open a new one for the next reading."""

    def __init__(self, host: str, port: int, community: str, timeout_sec: float, retries: int, where: str,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.where = where
        self._community = community
        self._timeout_sec = timeout_sec
        self._retries = max(0, retries)
        self._clock = clock
        self._requests: Dict[Tuple[str, ...], EncodedRequests] = {}
        self._socket = _connected(host, port, where)
        # also when a session is never closed (the daemon ends without closing its meter): no
        # ResourceWarning for the socket when it is collected
        self._shut = weakref.finalize(self, self._socket.close)

    # ------------------------------------------------------------------ requests

    def get(self, oids: Sequence[str]) -> List[Tuple[str, Any]]:
        """(type name, value) for each OID, in order."""
        request = self._get_request(tuple(oids)).next()
        return [(kind, value) for _, kind, value in self._ask(request, self._clock() + self._answer_within())]

    def walk(self, column: str) -> Dict[int, str]:
        """{index: text} for the OctetString rows of a table column (single-number indexes). The walk
        ends where the column does, or after MAX_INTERFACES rows of any kind."""
        found: Dict[int, str] = {}
        start = tuple(V2C.ObjectIdentifier(column))
        after = start
        walked = 0
        within = self._answer_within() * 8
        walk_ends = self._clock() + within
        while walked < MAX_INTERFACES:
            now = self._clock()
            if now >= walk_ends:
                raise LineMeterError(FailureKind.UNREACHABLE, "%s did not finish answering within %g s" % (
                    self.where, within))
            request = encoded(*self._bulk_request(after, min(BULK_ROWS, MAX_INTERFACES - walked)))
            rows = self._ask(request, min(walk_ends, now + self._answer_within()))
            for oid, kind, text in rows:
                if oid[:len(start)] != start or kind == "EndOfMibView":
                    return found  # past the column: the walk is done
                if oid <= after:  # an agent going round in circles would hold us to MAX_INTERFACES
                    raise LineMeterError(FailureKind.MALFORMED, "%s returned the rows of %s out of order" % (
                        self.where, column))
                after, walked = oid, walked + 1
                if walked > MAX_INTERFACES:
                    return found  # an agent may send more than asked for
                if len(oid) == len(start) + 1 and kind == "OctetString":
                    found[oid[-1]] = text
            if not rows:
                return found
        return found

    def close(self) -> None:
        self._shut()

    # ------------------------------------------------------------------ inside

    def _answer_within(self) -> float:
        """How long one request may take: the timeout of each try, every try."""
        return self._timeout_sec * (self._retries + 1)

    def _get_request(self, oids: Tuple[str, ...]) -> EncodedRequests:
        built = self._requests.get(oids)
        if built is None:
            pdu = V2C.GetRequestPDU()
            V2C.apiPDU.set_defaults(pdu)
            V2C.apiPDU.set_varbinds(pdu, [(oid, V2C.null) for oid in oids])
            built = EncodedRequests(*self._message(pdu))
            if len(self._requests) < MAX_REQUESTS:
                self._requests[oids] = built
        return built

    def _bulk_request(self, after: Tuple[int, ...], rows: int) -> Tuple[Any, Any]:
        pdu = V2C.GetBulkRequestPDU()
        V2C.apiBulkPDU.set_defaults(pdu)
        V2C.apiBulkPDU.set_max_repetitions(pdu, rows)
        V2C.apiBulkPDU.set_varbinds(pdu, [(after, V2C.null)])
        return self._message(pdu)

    def _message(self, pdu: Any) -> Tuple[Any, Any]:
        message = V2C.Message()
        V2C.apiMessage.set_defaults(message)
        V2C.apiMessage.set_community(message, self._community)
        V2C.apiMessage.set_pdu(message, pdu)
        return message, V2C.apiMessage.get_pdu(message)  # the PDU as the message holds it

    def _ask(self, encoded_request: Tuple[int, bytes], deadline: float) -> List[Row]:
        """The (OID, type name, value) rows that answer the request (its id, its bytes), its
        error-status checked. Each try sends the same request (same id: a late answer to an earlier
        try is as good) and waits up to timeout_sec for it; datagrams that are not that answer are
        dropped, up to MAX_STRAYS."""
        request_id, request = encoded_request
        strays: List[str] = []
        for _ in range(self._retries + 1):
            now = self._clock()
            if now >= deadline:
                break
            self._send(request)
            try_ends = min(now + self._timeout_sec, deadline)
            while True:
                datagram = self._receive(try_ends)
                if datagram is None:
                    break
                answer, stray = read_answer(datagram, request_id)
                if answer is not None:
                    self._check_status(answer.status, answer.status_name)
                    return answer.rows
                strays.append(stray)
                if len(strays) > MAX_STRAYS:
                    raise LineMeterError(FailureKind.MALFORMED, "%s sent %d datagrams that were not the answer "
                                         "to our request (%s)" % (self.where, len(strays), strays[-1]))
        malformed = [s for s in strays if s != STALE]
        if malformed:
            raise LineMeterError(FailureKind.MALFORMED, "%s did not answer our request: it sent %s" % (
                self.where, malformed[-1]))
        # v2c has no way to refuse a wrong community: the agent stays silent, so say both
        raise LineMeterError(FailureKind.UNREACHABLE, "%s did not answer within %g s (%d tries): is it running, "
                             "and is the community right?" % (self.where, self._answer_within(), self._retries + 1))

    def _send(self, request: bytes) -> None:
        try:
            self._socket.send(request)
        except OSError as exc:
            raise self._unreachable(exc) from None

    def _receive(self, until: float) -> Optional[bytes]:
        """The next datagram, or None when none came before `until`."""
        remaining = until - self._clock()
        if remaining <= 0:
            return None
        self._socket.settimeout(remaining)
        try:
            return self._socket.recv(MAX_ANSWER + 1)
        except socket.timeout:
            return None
        except OSError as exc:
            raise self._unreachable(exc) from None

    def _unreachable(self, exc: OSError) -> LineMeterError:
        if isinstance(exc, ConnectionRefusedError):  # the host said so (ICMP): nothing listens on the port
            return LineMeterError(FailureKind.UNREACHABLE, "%s did not answer: nothing listens on that port; is "
                                  "the agent running there?" % self.where)
        return LineMeterError(FailureKind.UNREACHABLE, "%s cannot be asked: %s" % (
            self.where, printable(exc.strerror or type(exc).__name__)))

    def _check_status(self, status: int, name: str) -> None:
        if status:
            kind = FailureKind.REJECTED if status in REFUSED else FailureKind.MALFORMED
            raise LineMeterError(kind, "%s refused the request (%s)" % (self.where, printable(name)))


def _connected(host: str, port: int, where: str) -> socket.socket:
    """A UDP socket connected to the agent (IPv4 or IPv6, the first address that takes): the kernel
    then drops datagrams from anyone else, and tells us when nothing listens there."""
    try:
        addresses = socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise LineMeterError(FailureKind.UNREACHABLE, "%s cannot be asked: the name does not resolve (%s)" % (
            where, printable(str(getattr(exc, "strerror", None) or exc)))) from None
    error: Optional[OSError] = None
    for family, kind, proto, _, address in addresses:
        sock: Optional[socket.socket] = None
        try:  # a host without IPv6 refuses the socket itself
            sock = socket.socket(family, kind, proto)
            sock.connect(address)
            return sock
        except OSError as exc:
            if sock is not None:
                sock.close()
            error = exc
    raise LineMeterError(FailureKind.UNREACHABLE, "%s cannot be asked: %s" % (
        where, printable(error.strerror or type(error).__name__) if error else "no address"))

