"""SNMP v2c messages, as pysnmp's proto API builds them and pyasn1's BER codec encodes and decodes
them: the GET requests the meter sends (each encoded once per request id) and the answers it reads.
Everything read from an agent's bytes is read in `read_answer`, so nothing in them can raise elsewhere.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, List, Optional, Tuple

from pyasn1.codec.ber import decoder, encoder
from pyasn1.type import namedtype, univ
from pysnmp.proto import api, rfc1901, rfc1902, rfc1905

MAX_ANSWER = 65535  # bytes: a datagram longer than this is refused, not read in part
# Each GET is encoded with this many request ids, once each, and then sent in turn: encoding was a
# sixth of a reading's CPU. An id needs to differ only from those whose answers may still come in:
# answers are awaited one request at a time, anything left over is dropped by the next request as
# stale, and a request that went unanswered ends the session (its socket with it).
REQUEST_IDS = 16
V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
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


def encoded(message: Any, pdu: Any) -> Tuple[int, bytes]:
    """(a new request id, the message's bytes with it): `pdu` is the PDU as `message` holds it."""
    request_id = V2C.getNextRequestID()
    V2C.apiPDU.set_request_id(pdu, request_id)
    return request_id, encoder.encode(message)


class EncodedRequests:
    """One GET, encoded with REQUEST_IDS request ids (each the first time it is needed), handed out
    in turn."""

    def __init__(self, message: Any, pdu: Any) -> None:
        self._message, self._pdu = message, pdu
        self._encoded: List[Tuple[int, bytes]] = []
        self._turn = 0

    def next(self) -> Tuple[int, bytes]:
        if len(self._encoded) < REQUEST_IDS:
            self._encoded.append(encoded(self._message, self._pdu))
            return self._encoded[-1]
        request = self._encoded[self._turn]
        self._turn = (self._turn + 1) % REQUEST_IDS
        return request


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
