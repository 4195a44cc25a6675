"""A UPnP Internet Gateway Device stand-in on 127.0.0.1: SSDP, the device description, and the
byte counters over SOAP, in the shapes the specifications give.

Where each shape comes from:
- SSDP (UPnP Device Architecture 1.1, 1.3.2-1.3.3): a search is `M-SEARCH * HTTP/1.1` with
  `MAN: "ssdp:discover"`, `MX` and `ST`; a device whose type matches ST (or ST is `ssdp:all`) answers
  unicast to the sender, `HTTP/1.1 200 OK` with CACHE-CONTROL, EXT, LOCATION, SERVER, ST and USN.
  Here the responder listens on an injected UDP port on 127.0.0.1 instead of the multicast group.
- The description (UDA 1.1, 2.3; InternetGatewayDevice:1 Device Template 1.01, 2.1; IGD:2 2.0):
  `root` in urn:schemas-upnp-org:device-1-0, the InternetGatewayDevice with a WANDevice inside it,
  which carries WANCommonInterfaceConfig (version 1 in both IGD:1 and IGD:2) and a
  WANConnectionDevice. The URLs are AVM's (/igddesc.xml, /igdupnp/control/WANCommonIFC1).
- Control (UDA 1.1, 3.2): `POST <controlURL>` with `SOAPAction: "<serviceType>#<action>"`; the answer
  is `<u:<action>Response>` in a SOAP 1.1 envelope; an error is HTTP 500 with a SOAP Fault whose
  detail holds `UPnPError` (errorCode 401 "Invalid Action" for an action the service lacks).
- The counters (WANCommonInterfaceConfig:1 Service Template 1.01, 2.2): NewTotalBytesSent and
  NewTotalBytesReceived are ui4 and wrap; `wrap_modulus` sets where (2^32, or 2^31 as some routers).
  GetCommonLinkProperties gives NewWANAccessType, NewLayer1UpstreamMaxBitRate,
  NewLayer1DownstreamMaxBitRate, NewPhysicalLinkStatus.
- AVM's GetAddonInfos on the same service (Fritz!Box, offered with `avm=True`): the standard rate and
  total fields plus NewX_AVM_DE_TotalBytesSent64 / NewX_AVM_DE_TotalBytesReceived64 as decimal strings.
- HTTP: answers are HTTP/1.1 with a Content-Length, and the status line, headers and body leave in
  one write, as miniupnpd builds and sends them (upnphttp.c: BuildResp2_upnphttp, SendResp_upnphttp).
  (http.server writes the headers and the body apart; with Nagle's algorithm on the server and a
  delayed ACK on the client every answer then waited about 40 ms, which no real router does.)
  The connection is kept alive by default; `keep_alive=False` answers `Connection: close` and closes
  it after every answer, as miniupnpd does (its httpresphead), so each request needs a new one.
  How a Fritz!Box handles it is not checked here.
- Misbehaving on purpose, for the meter's guarantees: `trickle_sec` sends every SOAP answer a byte
  at a time (status line and headers too); `missing_body_bytes` declares a Content-Length that
  many bytes longer than the body sent, then closes the connection; `chunked` frames SOAP answers
  with Transfer-Encoding: chunked; `close_kept_connections()` closes the idle kept-alive
  connections from the device's side, as a router does after its keep-alive timeout.

    with IgdStandIn(avm=False) as igd:
        igd.sent, igd.received = 10, 20        # true totals; the 32-bit answers wrap them
        igd.location, igd.ssdp_address         # the description URL, the SSDP (host, port)
"""
from __future__ import annotations

import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Dict, List, Optional, Set, Tuple

IGD = "urn:schemas-upnp-org:device:InternetGatewayDevice:%d"
COMMON = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:%d"
CONTROL_PATH = "/igdupnp/control/WANCommonIFC1"
ENVELOPE = ('<?xml version="1.0"?>\r\n<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>%s</s:Body></s:Envelope>\r\n')
FAULT = ('<s:Fault><faultcode>s:Client</faultcode><faultstring>UPnPError</faultstring><detail>'
         '<UPnPError xmlns="urn:schemas-upnp-org:control-1-0"><errorCode>%d</errorCode>'
         '<errorDescription>%s</errorDescription></UPnPError></detail></s:Fault>')


def description(device_version: int, service_version: int, url_base: str = "") -> str:
    base = "<URLBase>%s</URLBase>" % url_base if url_base else ""
    return """<?xml version="1.0"?>
<root xmlns="urn:schemas-upnp-org:device-1-0">
<specVersion><major>1</major><minor>0</minor></specVersion>%(base)s
<device>
<deviceType>%(igd)s</deviceType>
<friendlyName>Stand-in Box</friendlyName>
<manufacturer>plex-helper tests</manufacturer>
<modelName>IGD %(v)d</modelName>
<UDN>uuid:75802409-bccb-40e7-8e6c-fa095ecce13e</UDN>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:Layer3Forwarding:1</serviceType>
<serviceId>urn:upnp-org:serviceId:L3Forwarding1</serviceId>
<controlURL>/igdupnp/control/layer3forwarding</controlURL>
<eventSubURL>/igdupnp/event/layer3forwarding</eventSubURL><SCPDURL>/igdl3fSCPD.xml</SCPDURL>
</service></serviceList>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANDevice:%(v)d</deviceType>
<friendlyName>WANDevice - Stand-in Box</friendlyName>
<UDN>uuid:76802409-bccb-40e7-8e6b-fa095ecce13e</UDN>
<serviceList><service>
<serviceType>%(common)s</serviceType>
<serviceId>urn:upnp-org:serviceId:WANCommonIFC1</serviceId>
<controlURL>%(control)s</controlURL>
<eventSubURL>/igdupnp/event/WANCommonIFC1</eventSubURL><SCPDURL>/igdicfgSCPD.xml</SCPDURL>
</service></serviceList>
<deviceList><device>
<deviceType>urn:schemas-upnp-org:device:WANConnectionDevice:%(v)d</deviceType>
<friendlyName>WANConnectionDevice - Stand-in Box</friendlyName>
<UDN>uuid:76802409-bccb-40e7-8e6a-fa095ecce13e</UDN>
<serviceList><service>
<serviceType>urn:schemas-upnp-org:service:WANIPConnection:%(v)d</serviceType>
<serviceId>urn:upnp-org:serviceId:WANIPConn1</serviceId>
<controlURL>/igdupnp/control/WANIPConn1</controlURL>
<eventSubURL>/igdupnp/event/WANIPConn1</eventSubURL><SCPDURL>/igdconnSCPD.xml</SCPDURL>
</service></serviceList>
</device></deviceList>
</device></deviceList>
</device>
</root>
""" % {"base": base, "igd": IGD % device_version, "v": device_version, "common": COMMON % service_version,
       "control": CONTROL_PATH}


class IgdStandIn:
    """The device; its counters and behaviour are plain attributes tests may change at any time."""

    def __init__(self, avm: bool = False, device_version: int = 1, service_version: int = 1,
                 wrap_modulus: int = 2 ** 32, keep_alive: bool = True) -> None:
        self.avm = avm
        self.keep_alive = keep_alive
        self.device_version = device_version
        self.service_version = service_version
        self.wrap_modulus = wrap_modulus
        self.sent = 0
        self.received = 0
        self.upstream_bps = 40_000_000
        self.downstream_bps = 250_000_000
        self.description_override: Optional[bytes] = None  # served instead of the description
        self.answer_override: Optional[Tuple[int, bytes]] = None  # (status, body) for every SOAP action
        self.trickle_sec: Optional[float] = None  # SOAP answers a byte at a time, this far apart
        self.missing_body_bytes = 0  # SOAP answers declare this many bytes more than they send, then close
        self.chunked = False  # SOAP answers framed with Transfer-Encoding: chunked
        self.actions: List[str] = []  # every SOAPAction received, in order
        self.connections_opened = 0  # TCP connections accepted
        self.searches: List[str] = []  # every ST searched for
        self._stopping = threading.Event()
        self._threads: List[threading.Thread] = []
        self._connections: Set[socket.socket] = set()

    @property
    def http_port(self) -> int:
        return self._http.server_address[1]

    @property
    def location(self) -> str:
        return "http://127.0.0.1:%d/igddesc.xml" % self.http_port

    @property
    def ssdp_address(self) -> Tuple[str, int]:
        return self._ssdp.getsockname()

    @property
    def device_type(self) -> str:
        return IGD % self.device_version

    def __enter__(self) -> "IgdStandIn":
        """Listen (HTTP on a free TCP port, SSDP on a free UDP port, both on 127.0.0.1) and serve."""
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._http.daemon_threads = True
        self._http.handle_error = self._quiet_about_reset  # type: ignore[method-assign]
        self._ssdp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._ssdp.bind(("127.0.0.1", 0))
        self._ssdp.settimeout(0.2)
        self._threads = [threading.Thread(target=self._http.serve_forever, args=(0.05,), daemon=True),
                         threading.Thread(target=self._answer_searches, daemon=True)]
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._http.shutdown()
        self._http.server_close()
        for connection in list(self._connections):  # kept-alive ones too: a device that is gone is gone
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in self._threads:
            thread.join(timeout=5)
        self._ssdp.close()

    def close_kept_connections(self) -> None:
        """Close every open connection from the device's side (the client learns it on its next
        request)."""
        for connection in list(self._connections):
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _quiet_about_reset(self, request: object, client_address: object) -> None:
        """A client that gave up on an answer (too large, too slow) resets the connection: expected
        here, so no traceback on the test's output; anything else is printed as http.server does."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            ThreadingHTTPServer.handle_error(self._http, request, client_address)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ SSDP

    def _answer_searches(self) -> None:
        while not self._stopping.is_set():
            try:
                data, sender = self._ssdp.recvfrom(8192)
            except (socket.timeout, OSError):
                continue
            lines = data.decode("latin-1").split("\r\n")
            headers = {k.strip().upper(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:]) if k}
            if not lines[0].startswith("M-SEARCH * HTTP/1.1") or headers.get("MAN") != '"ssdp:discover"':
                continue
            target = headers.get("ST", "")
            self.searches.append(target)
            if target not in (self.device_type, "ssdp:all"):
                continue
            answer = ("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=1800\r\nEXT:\r\nLOCATION: %s\r\n"
                      "SERVER: Linux/6 UPnP/1.0 stand-in/1\r\nST: %s\r\nUSN: uuid:75802409-bccb-40e7-8e6c-"
                      "fa095ecce13e::%s\r\n\r\n" % (self.location, self.device_type, self.device_type))
            self._ssdp.sendto(answer.encode("ascii"), sender)

    # ------------------------------------------------------------------ HTTP

    def soap(self, action: str) -> Tuple[int, str]:
        """(HTTP status, body) for a SOAP action, as the device answers it."""
        service = COMMON % self.service_version
        values: Optional[Dict[str, object]] = None
        sent32, received32 = self.sent % self.wrap_modulus, self.received % self.wrap_modulus
        if action == "GetTotalBytesSent":
            values = {"NewTotalBytesSent": sent32}
        elif action == "GetTotalBytesReceived":
            values = {"NewTotalBytesReceived": received32}
        elif action == "GetCommonLinkProperties":
            values = {"NewWANAccessType": "DSL", "NewLayer1UpstreamMaxBitRate": self.upstream_bps,
                      "NewLayer1DownstreamMaxBitRate": self.downstream_bps, "NewPhysicalLinkStatus": "Up"}
        elif action == "GetAddonInfos" and self.avm:
            values = {"NewByteSendRate": 0, "NewByteReceiveRate": 0, "NewPacketSendRate": 0,
                      "NewPacketReceiveRate": 0, "NewTotalBytesSent": sent32, "NewTotalBytesReceived": received32,
                      "NewAutoDisconnectTime": 0, "NewIdleDisconnectTime": 0, "NewDNSServer1": "192.0.2.53",
                      "NewDNSServer2": "192.0.2.54", "NewVoipDNSServer1": "192.0.2.53",
                      "NewVoipDNSServer2": "192.0.2.54", "NewUpnpControlEnabled": 0, "NewRoutedBridgedModeBoth": 1,
                      "NewX_AVM_DE_TotalBytesSent64": str(self.sent),
                      "NewX_AVM_DE_TotalBytesReceived64": str(self.received), "NewX_AVM_DE_WANAccessType": "DSL"}
        if values is None:
            return 500, ENVELOPE % (FAULT % (401, "Invalid Action"))
        arguments = "".join("<%s>%s</%s>" % (name, value, name) for name, value in values.items())
        return 200, ENVELOPE % ('<u:%sResponse xmlns:u="%s">%s</u:%sResponse>' % (action, service, arguments, action))

    def _handler(self) -> type:
        device = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            wbufsize = 64 * 1024  # the whole answer leaves in one write (see the module's docstring)

            def log_message(self, *args: object) -> None:
                pass

            def setup(self) -> None:
                super().setup()
                device.connections_opened += 1
                device._connections.add(self.connection)

            def finish(self) -> None:
                device._connections.discard(self.connection)
                super().finish()

            def do_GET(self) -> None:
                if self.path != "/igddesc.xml":
                    return self._send(404, b"")
                body = device.description_override
                if body is None:
                    body = description(device.device_version, device.service_version).encode("utf-8")
                self._send(200, body)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                service, _, action = (self.headers.get("SOAPAction") or "").strip('"').rpartition("#")
                device.actions.append(action)
                if self.path != CONTROL_PATH:
                    return self._send(404, b"")
                if device.answer_override is not None:
                    return self._answer(*device.answer_override)
                if service != COMMON % device.service_version:  # the action is the service's, named in full
                    return self._send(500, (ENVELOPE % (FAULT % (401, "Invalid Action"))).encode("utf-8"))
                status, body = device.soap(action)
                self._answer(status, body.encode("utf-8"))

            def _answer(self, status: int, body: bytes) -> None:
                """A SOAP answer, sent as the device's misbehaviour of the moment says."""
                if device.trickle_sec is not None:
                    return self._trickle(status, body)
                if device.missing_body_bytes:
                    self.close_connection = True
                    return self._send(status, body, declared=len(body) + device.missing_body_bytes)
                if device.chunked:
                    return self._send_chunked(status, body)
                self._send(status, body)

            def _trickle(self, status: int, body: bytes) -> None:
                answer = b"HTTP/1.1 %d OK\r\nContent-Type: text/xml\r\nContent-Length: %d\r\n\r\n%s" % (
                    status, len(body), body)
                self.close_connection = True
                for i in range(len(answer)):
                    if device._stopping.wait(device.trickle_sec):
                        return
                    try:
                        self.connection.sendall(answer[i:i + 1])
                    except OSError:  # the client gave up
                        return

            def _send_chunked(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", 'text/xml; charset="utf-8"')
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                for start in range(0, len(body), 4096):
                    piece = body[start:start + 4096]
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
                self.wfile.write(b"0\r\n\r\n")

            def _send(self, status: int, body: bytes, declared: Optional[int] = None) -> None:
                self.send_response(status)
                self.send_header("Content-Type", 'text/xml; charset="utf-8"')
                self.send_header("Content-Length", str(len(body) if declared is None else declared))
                self.send_header("EXT", "")
                if not device.keep_alive:
                    self.send_header("Connection", "close")  # http.server then closes after the answer
                self.end_headers()
                self.wfile.write(body)

        return Handler
