"""One SNMP v2c agent's session, kept from one reading to the next: a UDP socket connected to the
agent's address (looked up once), and each GET message (built once; only the request id changes).

Every byte is pysnmp's and pyasn1's: the messages are pysnmp's own types (its proto API), encoded
and decoded by pyasn1's BER codec. Ours is only the exchange around them: send, wait for the
datagram that answers our request id (dropping stale and foreign ones), time out and retry.

Why not pysnmp's hlapi on an asyncio loop, as before: for one request and its answer the event
loop, the dispatcher and its transport cost more CPU than the exchange itself, and the hlapi decoded
each answer more than once (a reading cost about 0.5 ms of CPU that way, 0.3 ms this way).
Importing asyncio (with the hlapi) also cost about 8 MB of memory that a daemon which otherwise
never uses it would carry for months; pysnmp's proto API and pyasn1 add about 2 MB.

A session that failed to reach the agent is closed by its owner, so the next reading starts afresh
(a new socket, the name looked up again: the agent may have moved). One caller at a time (the meter
holds a lock). Imported only when an SNMP meter is first used (it loads pysnmp).
"""
from __future__ import annotations

import socket
import time
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import namedtype, univ
from pysnmp.proto import api, rfc1901, rfc1902, rfc1905

from adapters.line.snmp import printable
from domain.ports import FailureKind, LineMeterError

MAX_INTERFACES = 4096  # a walk stops here: an agent that never ends its table cannot hold us
MAX_REQUESTS = 8  # distinct GETs kept built (the meter asks at most three)
MAX_ANSWER = 65535  # bytes: a datagram longer than this is refused, not read in part
MAX_STRAYS = 32  # datagrams that are not our answer, dropped per request before we give up
BULK_ROWS = 32  # rows a GetBulk of a walk asks for at once
V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
REFUSED = (6, 16)  # error-status noAccess, authorizationError
STALE = "an answer to an earlier request"
Row = Tuple[Tuple[int, ...], str, Any]  # (OID, type name, value), see _plain


# What an answer is decoded against: pysnmp's own types, rearranged so pyasn1 takes fewer steps
# (decoding costs about a fifth less: each untagged CHOICE nested in another costs pyasn1 one more
# pass and one more object). Nothing is left out: a value is still any of ObjectSyntax's simple and
# application-wide types or one of the three exceptions, each with its constraints. The message
# holds the Response PDU itself rather than the choice of all PDUs, so a request, a trap or a
# report is refused by its tag.
def _alternatives(choice: Any) -> List[Any]:
    return list(choice.componentType.namedTypes)


_BIND_VALUE = rfc1905.VarBind.componentType.getTypeByPosition(1)  # value | unSpecified | noSuchObject | ...


class _AnswerValue(univ.Choice):
    componentType = namedtype.NamedTypes(*(
        _alternatives(rfc1902.SimpleSyntax()) + _alternatives(rfc1902.ApplicationSyntax())
        + [t for t in _alternatives(_BIND_VALUE) if t.name != "value"]))
    subtypeSpec = _BIND_VALUE.subtypeSpec


class _AnswerVarBind(rfc1905.VarBind):
    componentType = namedtype.NamedTypes(_alternatives(rfc1905.VarBind())[0], namedtype.NamedType("", _AnswerValue()))


class _AnswerVarBindList(rfc1905.VarBindList):
    componentType = _AnswerVarBind()


class _AnswerPDU(rfc1905.ResponsePDU):
    componentType = namedtype.NamedTypes(*(
        _alternatives(rfc1905.ResponsePDU())[:3] + [namedtype.NamedType("variable-bindings", _AnswerVarBindList())]))


class _AnswerMessage(rfc1901.Message):
    componentType = namedtype.NamedTypes(*(_alternatives(rfc1901.Message())[:2] + [
        namedtype.NamedType("data", _AnswerPDU())]))


ANSWER_SPEC = _AnswerMessage()  # pyasn1 clones a spec to decode into it: one serves every answer


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
        self._requests: Dict[Tuple[str, ...], Tuple[Any, Any]] = {}
        self._socket = _connected(host, port, where)
        # also when a session is never closed (the daemon ends without closing its meter): no
        # ResourceWarning for the socket when it is collected
        self._shut = weakref.finalize(self, self._socket.close)

    # ------------------------------------------------------------------ requests

    def get(self, oids: Sequence[str]) -> List[Tuple[str, Any]]:
        """(type name, value) for each OID, in order."""
        message, pdu = self._get_request(tuple(oids))
        return [(kind, value) for _, kind, value in self._ask(message, pdu, self._clock() + self._answer_within())]

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
            message, pdu = self._bulk_request(after, min(BULK_ROWS, MAX_INTERFACES - walked))
            rows = self._ask(message, pdu, min(walk_ends, now + self._answer_within()))
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

    def _get_request(self, oids: Tuple[str, ...]) -> Tuple[Any, Any]:
        built = self._requests.get(oids)
        if built is None:
            pdu = V2C.GetRequestPDU()
            V2C.apiPDU.set_defaults(pdu)
            V2C.apiPDU.set_varbinds(pdu, [(oid, V2C.null) for oid in oids])
            built = self._message(pdu)
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

    def _ask(self, message: Any, pdu: Any, deadline: float) -> List[Row]:
        """The (OID, type name, value) rows that answer `message`, its error-status checked. Each try
        sends the same request (same id: a late answer to an earlier try is as good) and waits up to
        timeout_sec for it; datagrams that are not that answer are dropped, up to MAX_STRAYS."""
        request_id = V2C.getNextRequestID()
        V2C.apiPDU.set_request_id(pdu, request_id)
        request = encoder.encode(message)
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


@dataclass(frozen=True)
class Answer:
    status: int  # error-status, 0 for none
    status_name: str  # its name, "noAccess", ...
    rows: List[Row]


def read_answer(datagram: bytes, request_id: int) -> Tuple[Optional[Answer], str]:
    """(the answer, "") when `datagram` is the response to `request_id`, else (None, what it was).
    Everything read from the agent's bytes is read here, so nothing in them can raise elsewhere."""
    if len(datagram) > MAX_ANSWER:
        return None, "a datagram over %d bytes" % MAX_ANSWER
    try:
        message, rest = decoder.decode(datagram, asn1Spec=ANSWER_SPEC)
        if rest:
            return None, "a message with bytes after its end"
        if int(message[0]) != 1:
            return None, "a message of another SNMP version"
        pdu = message[2]
        if int(V2C.apiPDU.get_request_id(pdu)) != request_id:
            return None, STALE
        status = V2C.apiPDU.get_error_status(pdu)
        rows = [(tuple(name),) + _plain(value) for name, value in V2C.apiPDU.get_varbinds(pdu)]
        return Answer(int(status), status.prettyPrint(), rows), ""
    except Exception:  # pyasn1's refusals of foreign bytes come in more than one class
        return None, "a datagram that does not decode as an SNMP v2c response"


def _plain(value: Any) -> Tuple[str, Any]:
    """('Counter64', 123), ('OctetString', 'eth0'), ('NoSuchInstance', None), ... for one answer."""
    kind = type(value).__name__
    if kind in ("Counter64", "Counter32", "Integer", "Integer32", "Gauge32", "Unsigned32"):
        return kind, int(value)
    if kind == "OctetString":
        return kind, bytes(value.asOctets()).decode("utf-8", "replace")
    return kind, None
