"""One SNMP v2c agent's pysnmp session, kept from one reading to the next: a private event loop,
pysnmp's dispatcher with its UDP socket, the agent's address (resolved once) and each GET request
(its PDU built once; only the request id changes).

Why kept: a loop, a dispatcher, a socket and a name lookup per reading cost more than the request
itself (a reading took about 1 ms that way, 0.4 ms now). The rest is pysnmp's: the request is sent,
matched to its answer, timed out and retried by its dispatcher, and encoded and decoded by pyasn1.
A session that failed to reach the agent is closed by its owner, so the next reading starts afresh
(a new socket, the name looked up again: the agent may have moved).

Callers stay synchronous: each call runs the loop until its answer is in, in the calling thread.
One caller at a time (the meter holds a lock). Imported only when an SNMP meter is first used
(it loads asyncio).
"""
from __future__ import annotations

import asyncio
import weakref
from typing import Any, Dict, List, Sequence, Tuple

from adapters.line.snmp import printable
from domain.ports import FailureKind, LineMeterError

MAX_INTERFACES = 4096  # a walk stops here: an agent that never ends its table cannot hold us
MAX_REQUESTS = 8  # distinct GETs kept built (the meter asks at most three)


class SnmpSession:
    """GETs and walks against one agent. Every failure is a LineMeterError; after one of kind
    UNREACHABLE the owner should close the session and open a new one for the next reading."""

    def __init__(self, hlapi: Any, host: str, port: int, community: str, timeout_sec: float, retries: int,
                 where: str) -> None:
        from pysnmp.error import PySnmpError
        from pysnmp.proto import api

        self.where = where
        self._hlapi = hlapi
        self._api = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
        self._auth = hlapi.CommunityData(community, mpModel=1)  # mpModel 1: SNMP v2c
        self._timeout_sec = timeout_sec
        self._retries = retries
        self._requests: Dict[Tuple[str, ...], Any] = {}
        self._loop = asyncio.new_event_loop()
        self._owned: List[Any] = []  # the dispatcher, once made: what _shut stops
        # also when a session is never closed (the daemon ends without closing its meter): at exit,
        # or when it is collected, rather than asyncio's "Task was destroyed but it is pending!"
        self._shut = weakref.finalize(self, _shut, self._loop, self._owned)
        try:
            self._dispatcher, self._target = self._run(self._start(host, port), self._answer_within())
            self._owned.append(self._dispatcher)
        except PySnmpError as exc:  # a name that does not resolve, a socket that will not open
            self.close()
            raise LineMeterError(FailureKind.UNREACHABLE, "%s cannot be asked: %s" % (
                where, printable(str(exc)))) from None
        except BaseException:
            self.close()
            raise

    async def _start(self, host: str, port: int) -> Tuple[Any, Any]:
        dispatcher = self._hlapi.SnmpDispatcher()  # takes the running loop: ours
        target = await self._hlapi.UdpTransportTarget.create((host, port), timeout=self._timeout_sec,
                                                             retries=self._retries)
        return dispatcher, target

    # ------------------------------------------------------------------ requests

    def get(self, oids: Sequence[str]) -> List[Tuple[str, Any]]:
        """(type name, value) for each OID, in order."""
        pdu = self._request(tuple(oids))
        self._api.apiPDU.set_request_id(pdu, self._api.getNextRequestID())
        answer = self._loop.create_future()
        self._loop.call_soon(self._send, pdu, answer)  # in the loop: the transport belongs to it
        indication, response = self._wait(answer, self._answer_within())
        self._check(indication, None if response is None else self._api.apiPDU.get_error_status(response))
        return [_plain(value) for _, value in self._api.apiPDU.get_varbinds(response)]

    def walk(self, column: str) -> Dict[int, str]:
        """{index: text} for the OctetString rows of a table column."""
        return self._run(self._walk(column), self._answer_within() * 8)

    def close(self) -> None:
        self._shut()

    # ------------------------------------------------------------------ inside

    def _request(self, oids: Tuple[str, ...]) -> Any:
        pdu = self._requests.get(oids)
        if pdu is None:
            pdu = self._api.GetRequestPDU()
            self._api.apiPDU.set_defaults(pdu)
            self._api.apiPDU.set_varbinds(pdu, [(oid, self._api.Null("")) for oid in oids])
            if len(self._requests) < MAX_REQUESTS:
                self._requests[oids] = pdu
        return pdu

    def _send(self, pdu: Any, answer: "asyncio.Future[Any]") -> None:
        try:
            self._dispatcher.send_pdu(self._auth, self._target, pdu, cbFun=_answered, cbCtx=answer)
        except Exception as exc:  # surfaces in the caller, not in the loop's exception handler
            if not answer.done():
                answer.set_exception(exc)

    def _answer_within(self) -> float:
        """How long one request may take: pysnmp's timeout for each try, and a second to spare."""
        return self._timeout_sec * (self._retries + 1) + 1

    def _wait(self, answer: "asyncio.Future[Any]", within: float) -> Any:
        guard = self._loop.call_later(within, answer.cancel)  # pysnmp's own timeout comes first
        try:
            return self._loop.run_until_complete(answer)
        except asyncio.CancelledError:
            raise LineMeterError(FailureKind.UNREACHABLE, "%s did not finish answering within %g s" % (
                self.where, within)) from None
        finally:
            guard.cancel()

    def _run(self, work: Any, within: float) -> Any:
        try:
            return self._loop.run_until_complete(asyncio.wait_for(work, within))
        except asyncio.TimeoutError:
            raise LineMeterError(FailureKind.UNREACHABLE, "%s did not finish answering within %g s" % (
                self.where, within)) from None

    async def _walk(self, column: str) -> Dict[int, str]:
        found: Dict[int, str] = {}
        prefix = column + "."
        walker = self._hlapi.walk_cmd(self._dispatcher, self._auth, self._target, (column, None),
                                      lookupMib=False, lexicographicMode=False, maxRows=MAX_INTERFACES)
        async for indication, status, index, binds in walker:
            self._check(indication, status)
            for name, value in binds:
                oid = str(name)
                kind, text = _plain(value)
                if oid.startswith(prefix) and oid[len(prefix):].isdigit() and kind == "OctetString":
                    found[int(oid[len(prefix):])] = text
        return found

    def _check(self, indication: Any, status: Any) -> None:
        if indication:
            # v2c has no way to refuse a wrong community: the agent stays silent, so say both
            raise LineMeterError(FailureKind.UNREACHABLE, "%s did not answer (%s): is it running, and is the "
                                 "community right?" % (self.where, printable(str(indication))))
        if status:
            refused = int(status) in (6, 16)  # noAccess, authorizationError
            kind = FailureKind.REJECTED if refused else FailureKind.MALFORMED
            raise LineMeterError(kind, "%s refused the request (%s)" % (self.where, printable(status.prettyPrint())))


def _shut(loop: asyncio.AbstractEventLoop, owned: List[Any]) -> None:
    """Stop the dispatcher (its socket, its timer task) and close the loop. Not while the loop runs
    in another thread as the process ends, nor inside another loop: then it is only closed."""
    if loop.is_closed() or loop.is_running():
        return
    try:
        if owned:
            loop.run_until_complete(_stop(owned[0]))
    except RuntimeError:  # collected while another event loop runs in this thread
        pass
    finally:
        loop.close()


async def _stop(dispatcher: Any) -> None:
    dispatcher.close()  # and with it the transport dispatcher it made
    for _ in range(3):  # let the transport close its socket and the timer task end
        await asyncio.sleep(0)


def _answered(dispatcher: Any, request_id: Any, indication: Any, response: Any, answer: Any = None) -> None:
    """pysnmp's callback: (indication, response PDU) into the future. When its dispatcher closes
    with a request pending it calls with four arguments and no answer: nothing to do then."""
    if isinstance(answer, asyncio.Future) and not answer.done():
        answer.set_result((indication, response))


def _plain(value: Any) -> Tuple[str, Any]:
    """('Counter64', 123), ('OctetString', 'eth0'), ('NoSuchInstance', None), ... for one answer."""
    kind = type(value).__name__
    if kind in ("Counter64", "Counter32", "Integer", "Integer32", "Gauge32", "Unsigned32"):
        return kind, int(value)
    if kind == "OctetString":
        return kind, bytes(value.asOctets()).decode("utf-8", "replace")
    return kind, None
