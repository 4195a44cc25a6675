"""The SNMP session's exchange against agents that misbehave on purpose (a UDP stand-in on
127.0.0.1 that answers as each test scripts it), and the reading of foreign datagrams."""
from __future__ import annotations

import importlib.util
import socket
import threading
import time
from contextlib import closing
from typing import Any, Callable, Iterator, List, Sequence, Tuple

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.line.snmp import SnmpLineMeter
from domain.ports import FailureKind, LineMeterError
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(importlib.util.find_spec("pysnmp") is None,
                                reason="pysnmp is not installed (requirements.lock)")
if importlib.util.find_spec("pysnmp") is not None:
    from pyasn1.codec.ber import decoder, encoder
    from pysnmp.proto import api

    from adapters.line.snmp_messages import read_answer
    from adapters.line.snmp_session import MAX_INTERFACES, MAX_STRAYS, SnmpSession

    V2C = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]

HC_OUT_1 = "1.3.6.1.2.1.31.1.1.1.10.1"
HC_IN_1 = "1.3.6.1.2.1.31.1.1.1.6.1"
Request = Tuple[str, int, Any]  # (PDU name, request id, PDU)
Script = Callable[[Request], Sequence[bytes]]


def message(pdu: Any, community: str = "secret", version: int = 1) -> bytes:
    built = V2C.Message()
    V2C.apiMessage.set_defaults(built)
    V2C.apiMessage.set_version(built, version)
    V2C.apiMessage.set_community(built, community)
    V2C.apiMessage.set_pdu(built, pdu)
    return encoder.encode(built)


def response(request_id: int, binds: Sequence[Tuple[str, Any]], status: int = 0, version: int = 1) -> bytes:
    pdu = V2C.ResponsePDU()
    V2C.apiPDU.set_defaults(pdu)
    V2C.apiPDU.set_request_id(pdu, request_id)
    V2C.apiPDU.set_error_status(pdu, status)
    V2C.apiPDU.set_varbinds(pdu, binds)
    return message(pdu, version=version)


def counters(request_id: int, sent: int = 7, received: int = 9) -> bytes:
    return response(request_id, [(HC_OUT_1, V2C.Counter64(sent)), (HC_IN_1, V2C.Counter64(received))])


class UdpAgent:
    """A UDP socket on 127.0.0.1 (or ::1) that reads each request and sends what `script` returns
    for it (nothing: it stays silent). `requests` holds what it read, in order."""

    def __init__(self, script: Script, host: str = "127.0.0.1") -> None:
        self.script = script
        self.requests: List[Request] = []
        self._socket = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM)
        self._socket.bind((host, 0))
        self._socket.settimeout(0.05)
        self.host, self.port = host, self._socket.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> "UdpAgent":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        self._socket.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                data, peer = self._socket.recvfrom(65535)
            except socket.timeout:
                continue
            decoded, _ = decoder.decode(data, asn1Spec=V2C.Message())
            pdu = V2C.apiMessage.get_pdu(decoded)
            request = (decoded[2].getName(), int(V2C.apiPDU.get_request_id(pdu)), pdu)
            self.requests.append(request)
            for datagram in self.script(request):
                self._socket.sendto(datagram, peer)


def session(agent: UdpAgent, timeout_sec: float = 0.5, retries: int = 0) -> SnmpSession:
    return SnmpSession(agent.host, agent.port, "secret", timeout_sec, retries, "the agent")


@pytest.fixture
def silent_agent() -> Iterator[UdpAgent]:
    with UdpAgent(lambda request: ()) as agent:
        yield agent


# ---------------------------------------------------------------------- the exchange

def test_stale_and_foreign_datagrams_are_dropped_and_the_answer_read():
    def script(request: Request) -> Sequence[bytes]:
        _, request_id, pdu = request
        return [counters(request_id - 1, 1, 1),  # a late answer to an earlier request
                b"\x00 not BER at all",
                message(pdu),  # the request itself, echoed: not a Response PDU
                response(request_id, [(HC_OUT_1, V2C.Counter64(1))], version=0),  # SNMP v1
                counters(request_id)]

    with UdpAgent(script) as agent, closing(session(agent)) as snmp:
        assert snmp.get((HC_OUT_1, HC_IN_1)) == [("Counter64", 7), ("Counter64", 9)]
    assert len(agent.requests) == 1


def test_a_silent_agent_fails_within_the_deadline_and_each_retry_resends_the_same_request(silent_agent):
    meter = SnmpLineMeter(silent_agent.host, "secret", 1, port=silent_agent.port, timeout_sec=0.2, retries=2)
    started = time.monotonic()
    with closing(meter), pytest.raises(LineMeterError) as caught:
        meter.read_counters()
    elapsed = time.monotonic() - started
    assert caught.value.kind is FailureKind.UNREACHABLE
    assert "did not answer" in str(caught.value) and "is the community right" in str(caught.value)
    assert "secret" not in str(caught.value)
    assert 0.6 <= elapsed < 2.0  # three tries of 0.2 s, no more
    assert wait_until(lambda: len(silent_agent.requests) == 3, timeout=2)
    names, ids, _ = zip(*silent_agent.requests)
    assert set(names) == {"get-bulk-request"} and len(set(ids)) == 1  # the walk's first request, three times


def test_an_answer_to_the_retry_is_taken():
    def second_copy_only(request: Request) -> Sequence[bytes]:
        return [counters(request[1])] if len(agent.requests) == 2 else []

    with UdpAgent(second_copy_only) as agent, closing(session(agent, timeout_sec=0.2, retries=1)) as snmp:
        assert snmp.get((HC_OUT_1, HC_IN_1)) == [("Counter64", 7), ("Counter64", 9)]
    assert [r[1] for r in agent.requests] == [agent.requests[0][1]] * 2


def test_an_agent_answering_garbage_is_malformed_without_a_traceback():
    with UdpAgent(lambda request: [b"\x30\x03\x02\x01"]) as agent:
        meter = SnmpLineMeter(agent.host, "secret", "lo", port=agent.port, timeout_sec=0.2, retries=0)
        with closing(meter), pytest.raises(LineMeterError) as caught:
            meter.read_counters()
    assert caught.value.kind is FailureKind.MALFORMED
    assert str(caught.value) == ("the SNMP agent at 127.0.0.1:%d did not answer our request: it sent a datagram that "
                                 "does not decode as an SNMP v2c response" % agent.port)
    shown = caught.value.__cause__ or (None if caught.value.__suppress_context__ else caught.value.__context__)
    assert shown is None  # no pyasn1 traceback behind it


def test_a_flood_of_stale_answers_is_given_up_on_before_the_deadline():
    flood = lambda request: [counters(request[1] + 1)] * (MAX_STRAYS + 5)  # noqa: E731
    with UdpAgent(flood) as agent, closing(session(agent, timeout_sec=5)) as snmp:
        started = time.monotonic()
        with pytest.raises(LineMeterError) as caught:
            snmp.get((HC_OUT_1,))
    assert caught.value.kind is FailureKind.MALFORMED and "datagrams that were not the answer" in str(caught.value)
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("status, kind", [(6, FailureKind.REJECTED), (5, FailureKind.MALFORMED)])
def test_an_error_status_is_a_refusal_named(status, kind):
    with UdpAgent(lambda request: [response(request[1], [(HC_OUT_1, V2C.null)], status=status)]) as agent:
        with closing(session(agent)) as snmp, pytest.raises(LineMeterError) as caught:
            snmp.get((HC_OUT_1,))
    assert caught.value.kind is kind
    assert "refused the request (%s)" % ("noAccess" if status == 6 else "genErr") in str(caught.value)


def test_a_walk_ends_at_the_column_end_and_refuses_rows_out_of_order():
    column = "1.3.6.1.2.1.31.1.1.1.1"

    def table(request: Request) -> Sequence[bytes]:
        return [response(request[1], [(column + ".1", V2C.OctetString(b"lo")),
                                      (column + ".2", V2C.OctetString(b"eth0")),
                                      (column + ".2.7", V2C.OctetString(b"not one number")),
                                      ("1.3.6.1.2.1.31.1.1.1.2.1", V2C.Counter32(5))])]  # the next column

    def circling(request: Request) -> Sequence[bytes]:
        return [response(request[1], [(column + ".2", V2C.OctetString(b"a")), (column + ".1", V2C.OctetString(b"b"))])]

    with UdpAgent(table) as agent, closing(session(agent)) as snmp:
        assert snmp.walk(column) == {1: "lo", 2: "eth0"}
    with UdpAgent(circling) as agent, closing(session(agent)) as snmp:
        with pytest.raises(LineMeterError, match="out of order") as caught:
            snmp.walk(column)
    assert caught.value.kind is FailureKind.MALFORMED


def test_a_column_that_never_ends_is_walked_to_max_interfaces_rows():
    column = "1.3.6.1.2.1.31.1.1.1.1"

    def endless(request: Request) -> Sequence[bytes]:
        _, request_id, pdu = request
        after = tuple(V2C.apiBulkPDU.get_varbinds(pdu)[0][0])
        first = after[-1] + 1 if len(after) > 11 else 1
        rows = int(V2C.apiBulkPDU.get_max_repetitions(pdu)) + 3  # more than asked for
        return [response(request_id, [("%s.%d" % (column, i), V2C.OctetString(b"if%d" % i))
                                      for i in range(first, first + rows)])]

    with UdpAgent(endless) as agent, closing(session(agent)) as snmp:
        found = snmp.walk(column)
    assert sorted(found) == list(range(1, MAX_INTERFACES + 1)) and found[7] == "if7"


def test_an_agent_on_ipv6_loopback():
    try:
        agent = UdpAgent(lambda request: [counters(request[1])], host="::1")
    except OSError:
        pytest.skip("no IPv6 loopback here")
    with agent, closing(session(agent)) as snmp:
        assert snmp.get((HC_OUT_1, HC_IN_1)) == [("Counter64", 7), ("Counter64", 9)]


def test_a_name_that_does_not_resolve_says_so(monkeypatch):
    def unknown(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", unknown)
    meter = SnmpLineMeter("router.invalid", "secret", "lo")
    with closing(meter), pytest.raises(LineMeterError) as caught:
        meter.read_counters()
    assert caught.value.kind is FailureKind.UNREACHABLE
    assert str(caught.value) == ("the SNMP agent at router.invalid:161 cannot be asked: the name does not resolve "
                                 "(Name or service not known)")


# ---------------------------------------------------------------------- foreign bytes

values = st.one_of(
    st.integers(0, 2 ** 64 - 1).map(lambda n: ("Counter64", n)),
    st.integers(0, 2 ** 32 - 1).map(lambda n: ("Counter32", n)),
    st.integers(-2 ** 31, 2 ** 31 - 1).map(lambda n: ("Integer", n)),
    st.text(max_size=20).map(lambda t: ("OctetString", t)),
    st.sampled_from([("NoSuchObject", None), ("NoSuchInstance", None), ("EndOfMibView", None)]))
numbers = st.lists(st.integers(0, 2 ** 32 - 1), min_size=1, max_size=12)
oids = numbers.map(lambda tail: "1.3." + ".".join(map(str, tail)))


def encoded(kind: str, value: Any) -> Any:
    if kind == "OctetString":
        return V2C.OctetString(value.encode("utf-8"))
    return getattr(V2C, kind)(value) if value is not None else getattr(V2C, kind)("")


@given(st.integers(0, 2 ** 31 - 1), st.lists(st.tuples(oids, values), max_size=6))
def test_a_response_reads_back_as_sent(request_id, binds):
    answer, stray = read_answer(response(request_id, [(oid, encoded(*value)) for oid, value in binds]), request_id)
    assert stray == "" and answer is not None and answer.status == 0
    assert answer.rows == [(tuple(int(n) for n in oid.split(".")),) + value for oid, value in binds]


@given(st.binary(max_size=300))
def test_arbitrary_bytes_are_dropped_never_raised(datagram):
    answer, stray = read_answer(datagram, 1)
    assert (answer is None) == bool(stray)


@given(st.integers(0, 2 ** 31 - 1), st.lists(st.tuples(oids, values), max_size=4), st.data())
def test_a_damaged_response_is_dropped_or_read_never_raised(request_id, binds, data):
    sent = bytearray(response(request_id, [(oid, encoded(*value)) for oid, value in binds]))
    for _ in range(data.draw(st.integers(1, 3))):
        at = data.draw(st.integers(0, len(sent) - 1))
        sent[at] = data.draw(st.integers(0, 255))
    sent = sent[:data.draw(st.integers(0, len(sent)))]
    answer, stray = read_answer(bytes(sent), request_id)
    assert (answer is None) == bool(stray)


def test_a_get_is_encoded_once_per_request_id_and_the_ids_come_in_turn():
    from adapters.line.snmp_messages import REQUEST_IDS, EncodedRequests

    pdu = V2C.GetRequestPDU()
    V2C.apiPDU.set_defaults(pdu)
    V2C.apiPDU.set_varbinds(pdu, [(HC_OUT_1, V2C.null), (HC_IN_1, V2C.null)])
    message = V2C.Message()
    V2C.apiMessage.set_defaults(message)
    V2C.apiMessage.set_community(message, "c")
    V2C.apiMessage.set_pdu(message, pdu)
    requests = EncodedRequests(message, V2C.apiMessage.get_pdu(message))
    handed = [requests.next() for _ in range(3 * REQUEST_IDS)]
    first_round = [request_id for request_id, _ in handed[:REQUEST_IDS]]
    assert len(set(first_round)) == REQUEST_IDS  # no id twice within a round
    assert handed[REQUEST_IDS:2 * REQUEST_IDS] == handed[:REQUEST_IDS] == handed[2 * REQUEST_IDS:]
    for request_id, data in handed[:REQUEST_IDS]:  # each carries its own id
        decoded, _ = decoder.decode(data, asn1Spec=V2C.Message())
        assert int(V2C.apiPDU.get_request_id(V2C.apiMessage.get_pdu(decoded))) == request_id
