"""The router's byte counters over UPnP IGD: WANCommonInterfaceConfig's GetTotalBytesSent and
GetTotalBytesReceived (32-bit, IGD v1 and v2), or AVM's 64-bit pair where a Fritz!Box offers it.

AVM's boxes answer `GetAddonInfos` on the same service with NewX_AVM_DE_TotalBytesSent64 and
NewX_AVM_DE_TotalBytesReceived64 (decimal strings). The meter asks for it first and remembers a
router that does not know it (UPnP error 401, or the fields missing), then uses the standard pair.
AVM's TR-064 interface (X_AVM-DE_GetOnlineMonitor and the like) needs a login and is not used.

Only the directions asked for are read (`directions`: the tracker measures only those with a
configured capacity, most often just the upload). On the standard pair a direction not asked for
costs no request and reads as 0; AVM's one action gives both anyway.

Without a `location` the router is found by SSDP on first use, and again after it stopped answering
(its address may have changed).

HTTP goes over one kept-alive http.client connection (adapters/transport/kept_connection.py), not
the project's HttpClient: a reading is one or two small SOAP exchanges with one router every poll,
and urllib3's pool, retry and URL layers cost as much CPU as the exchanges themselves. The
guarantees are the same: a deadline for the whole exchange, a cap on the answer's size, complete
answers only, a kept-alive connection the router closed tried once more, no redirects followed.
"""
from __future__ import annotations

import threading
from typing import Callable, Collection, Dict, List, Optional, Tuple

from adapters.transport.http import HttpAnswer, HttpTransportError, printable_url
from adapters.transport.kept_connection import KeptConnection
from adapters.line.ssdp import SSDP_ADDRESS, SsdpAnswer, first_router
from adapters.line.upnp_xml import (
    CounterService, DocumentError, SoapFault, counter_value, find_counter_service, parse_soap_answer, soap_request,
)
from domain.limit_plan import Direction
from domain.line.counters import LineCounters
from domain.ports import FailureKind, LineMeterError

AVM_ACTION = "GetAddonInfos"
AVM_SENT, AVM_RECEIVED = "NewX_AVM_DE_TotalBytesSent64", "NewX_AVM_DE_TotalBytesReceived64"
MAX_ANSWER_BYTES = 64 * 1024


class UpnpLineMeter:
    """Reads the counters of the router at `location` (its description URL), or of the first one
    that answers an SSDP search sent to `discovery_address`.

    `directions`: the counters to read. On a router without AVM's action, one left out is not asked
    for and reads as 0 (a caller uses only the directions it asked for)."""

    def __init__(self, location: Optional[str] = None, timeout_sec: float = 3.0,
                 discovery_address: Tuple[str, int] = SSDP_ADDRESS, discovery_wait_sec: float = 2.5,
                 search: Callable[..., List[SsdpAnswer]] = first_router,
                 directions: Collection[Direction] = (Direction.UPLOAD, Direction.DOWNLOAD)) -> None:
        self.configured_location = location
        self.discovery_address = discovery_address
        self.discovery_wait_sec = discovery_wait_sec
        self.directions = frozenset(directions)
        self._search = search
        self._http = KeptConnection(timeout_sec, MAX_ANSWER_BYTES)
        self._location = location
        self._service: Optional[CounterService] = None
        self._avm: Optional[bool] = None  # None until we know whether the router has AVM's 64-bit counters
        self._requests: Dict[str, Tuple[Dict[str, str], bytes]] = {}  # action: (headers, body), for _service
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the port

    def read_counters(self) -> LineCounters:
        with self._lock:
            try:
                return self._read()
            except LineMeterError as exc:
                if exc.kind is FailureKind.UNREACHABLE:  # look for it again next time
                    self._service = None
                    self._location = self.configured_location
                raise

    def describe(self) -> str:
        counters = self.read_counters()
        service = self._service
        assert service is not None
        name = " ".join(part for part in (service.manufacturer, service.model) if part) or "model unknown"
        return "UPnP router %s (%s) at %s, %d-bit counters" % (
            service.friendly_name or "without a name", name, printable_url(service.control_url).split("/", 3)[2],
            counters.sent_wrap_bits)

    def link_rates(self) -> Tuple[int, int]:
        """(upstream, downstream) bits per second the line is synced at: a default for the capacity.
        Raises LineMeterError."""
        with self._lock:
            arguments = self._call(self._find(), "GetCommonLinkProperties")
        try:
            return (counter_value(arguments, "NewLayer1UpstreamMaxBitRate", 32),
                    counter_value(arguments, "NewLayer1DownstreamMaxBitRate", 32))
        except DocumentError as exc:
            raise self._malformed("GetCommonLinkProperties", exc) from None

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------------ requests

    def _read(self) -> LineCounters:
        service = self._find()
        if self._avm is not False:
            try:
                arguments = self._call(service, AVM_ACTION)
                sent, received = counter_value(arguments, AVM_SENT, 64), counter_value(arguments, AVM_RECEIVED, 64)
                self._avm = True
                return LineCounters(sent, received, 64, 64)
            except (SoapFault, DocumentError) as exc:
                if self._avm:  # it had them: a broken answer now, not a router without them
                    raise self._malformed(AVM_ACTION, exc) from None
                self._avm = False
        sent = received = 0
        try:
            if Direction.UPLOAD in self.directions:
                sent = counter_value(self._call(service, "GetTotalBytesSent"), "NewTotalBytesSent", 32)
            if Direction.DOWNLOAD in self.directions:
                received = counter_value(self._call(service, "GetTotalBytesReceived"), "NewTotalBytesReceived", 32)
        except (SoapFault, DocumentError) as exc:
            raise self._malformed("GetTotalBytesSent/Received", exc) from None
        return LineCounters(sent, received, 32, 32)

    def _find(self) -> CounterService:
        if self._service is not None:
            return self._service
        if self._location is None:
            self._location = self._discover()
        answer = self._get(self._location)
        if answer.status != 200:
            raise LineMeterError(FailureKind.UNREACHABLE, "the router's UPnP description at %s answered HTTP %d" % (
                printable_url(self._location), answer.status))
        if answer.truncated:
            raise LineMeterError(FailureKind.MALFORMED, "the router's UPnP description at %s is larger than %d KiB"
                                 % (printable_url(self._location), MAX_ANSWER_BYTES // 1024))
        try:
            self._service = find_counter_service(answer.body, self._location)
        except DocumentError as exc:
            raise LineMeterError(FailureKind.MALFORMED, "the router's UPnP description at %s is %s" % (
                printable_url(self._location), exc)) from None
        self._avm = None
        self._requests = {}
        return self._service

    def _discover(self) -> str:
        try:
            answers = self._search(self.discovery_address, self.discovery_wait_sec)
        except OSError as exc:
            raise LineMeterError(FailureKind.UNREACHABLE, "the search for a UPnP router could not be sent (%s)" % (
                exc.strerror or type(exc).__name__)) from None
        if not answers:
            raise LineMeterError(FailureKind.UNREACHABLE, "no UPnP router answered within %g s: is UPnP enabled on "
                                 "the router (on a Fritz!Box: 'transmit status information over UPnP')?"
                                 % self.discovery_wait_sec)
        return answers[0].location

    def _call(self, service: CounterService, action: str) -> Dict[str, str]:
        """The action's output arguments. Raises SoapFault, DocumentError or LineMeterError."""
        request = self._requests.get(action)
        if request is None:  # built once per router: the same few actions are asked on every poll
            request = self._requests[action] = (
                {"Content-Type": 'text/xml; charset="utf-8"', "SOAPAction": '"%s#%s"' % (service.service_type, action)},
                soap_request(service.service_type, action))
        answer = self._post(service.control_url, *request)
        if answer.truncated:
            raise DocumentError("an answer larger than %d KiB" % (MAX_ANSWER_BYTES // 1024))
        if answer.status not in (200, 500):  # UPnP errors come as 500 with a SOAP fault; a router that
            raise DocumentError("HTTP %d" % answer.status)  # answers at all is reachable, whatever it says
        return parse_soap_answer(answer.body, action)

    def _get(self, url: str) -> HttpAnswer:
        return self._request("GET", url, {}, None)

    def _post(self, url: str, headers: Dict[str, str], body: bytes) -> HttpAnswer:
        return self._request("POST", url, headers, body)

    def _request(self, method: str, url: str, headers: Dict[str, str], body: Optional[bytes]) -> HttpAnswer:
        try:
            return self._http.request(method, url, headers, body)
        except HttpTransportError as exc:
            raise LineMeterError(FailureKind.UNREACHABLE, "the router's UPnP service at %s could not be reached: "
                                 "%s" % (printable_url(url), exc.reason)) from None

    def _malformed(self, action: str, exc: Exception) -> LineMeterError:
        where = printable_url(self._service.control_url) if self._service else "the router"
        return LineMeterError(FailureKind.MALFORMED, "the router's answer to %s at %s is unusable: %s" % (
            action, where, exc))
