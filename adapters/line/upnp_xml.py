"""Reading what a UPnP router sends: its device description and its SOAP answers (UPnP Device
Architecture 1.1, sections 2.3 and 3.2), with the standard library's XML parser made safe to use.

Without defusedxml, safety is by refusal: a UPnP document is small, UTF-8 and has no DTD, so one
that is large, not UTF-8, or declares a DOCTYPE or an ENTITY is refused before it is parsed. The
parser gets the decoded text, so an encoding declared inside the document cannot change what it
sees from what was checked. Elements are matched by local name: routers are known to get the
namespaces wrong.
"""
from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Dict, Optional, Tuple
from urllib.parse import urljoin, urlsplit

MAX_DOCUMENT_BYTES = 256 * 1024  # descriptions are a few KiB, SOAP answers less than one
COUNTER_SERVICE = re.compile(r"^urn:schemas-upnp-org:service:WANCommonInterfaceConfig:([1-9][0-9]?)$")
_DECLARATIONS = re.compile(r"<!\s*(doctype|entity)", re.IGNORECASE)
_NUMBER = re.compile(r"^\s*([0-9]{1,20})\s*$")


class DocumentError(ValueError):
    """The document is not one we read; str() says why in a few words."""


@dataclass(frozen=True)
class CounterService:
    """Where the router's byte counters are: the WANCommonInterfaceConfig service."""

    service_type: str  # as the description names it (the SOAPAction must repeat it)
    control_url: str  # absolute
    friendly_name: str = ""
    manufacturer: str = ""
    model: str = ""


def parse_document(data: bytes) -> ET.Element:
    """The root element of a small UTF-8 XML document without DTD. Raises DocumentError."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError("larger than %d KiB" % (MAX_DOCUMENT_BYTES // 1024))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise DocumentError("not UTF-8") from None
    if _DECLARATIONS.search(text):
        raise DocumentError("declares a DTD or an entity")
    try:
        return ET.fromstring(text)
    except ET.ParseError as exc:
        raise DocumentError("not well-formed XML (%s)" % exc) from None


def local(tag: object) -> str:
    """An element's name without its namespace ('' for comments and processing instructions)."""
    return tag.rpartition("}")[2] if isinstance(tag, str) else ""


def child_text(element: ET.Element, name: str) -> str:
    for child in element:
        if local(child.tag) == name:
            return (child.text or "").strip()
    return ""


def find_counter_service(data: bytes, location: str) -> CounterService:
    """The counter service in a device description fetched from `location`. Raises DocumentError.

    Relative URLs are taken against URLBase (UDA 1.0) or else the description's own URL. The control
    URL must stay on the description's host: a description cannot send our requests elsewhere.
    """
    root = parse_document(data)
    if local(root.tag) != "root":
        raise DocumentError("not a UPnP device description (its root element is %s)" % _short(local(root.tag)))
    base = child_text(root, "URLBase") or location
    device = next((e for e in root if local(e.tag) == "device"), None)
    if device is None:
        raise DocumentError("a description without a device")
    for service in device.iter():
        if local(service.tag) != "service":
            continue
        service_type = child_text(service, "serviceType")
        control = child_text(service, "controlURL")
        if COUNTER_SERVICE.match(service_type) and control:
            url = urljoin(base, control)
            if not _same_host(url, location):
                raise DocumentError("its control URL points to another host")
            return CounterService(service_type, url, _short(child_text(device, "friendlyName")),
                                  _short(child_text(device, "manufacturer")), _short(child_text(device, "modelName")))
    raise DocumentError("no WANCommonInterfaceConfig service (the router offers no byte counters over UPnP)")


def soap_request(service_type: str, action: str) -> bytes:
    return ('<?xml version="1.0" encoding="utf-8"?>\r\n'
            '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" '
            's:encodingStyle="http://schemas.xmlsoap.org/soap/encoding/"><s:Body>'
            '<u:%s xmlns:u="%s"></u:%s></s:Body></s:Envelope>\r\n' % (action, service_type, action)).encode("utf-8")


def parse_soap_answer(data: bytes, action: str) -> Dict[str, str]:
    """The output arguments of `action`'s answer, by name. Raises DocumentError, or SoapFault for
    a UPnP error (which comes with HTTP status 500)."""
    root = parse_document(data)
    body = next((e for e in root if local(e.tag) == "Body"), None) if local(root.tag) == "Envelope" else None
    if body is None:
        raise DocumentError("not a SOAP envelope with a body")
    for element in body:
        if local(element.tag) == action + "Response":
            return {local(arg.tag): (arg.text or "").strip() for arg in element if local(arg.tag)}
        if local(element.tag) == "Fault":
            raise SoapFault(*_fault(element))
    raise DocumentError("no %sResponse in the answer" % action)


class SoapFault(Exception):
    def __init__(self, code: Optional[int], description: str) -> None:
        super().__init__("UPnP error %s (%s)" % (code if code is not None else "without a code", description))
        self.code = code
        self.description = description

    @property
    def invalid_action(self) -> bool:
        """The router does not offer the action (UDA: 401 Invalid Action)."""
        return self.code == 401


def _fault(fault: ET.Element) -> Tuple[Optional[int], str]:
    for element in fault.iter():
        if local(element.tag) == "UPnPError":
            code = child_text(element, "errorCode")
            number = int(code) if code.isascii() and code.isdigit() and len(code) < 6 else None
            return number, _short(child_text(element, "errorDescription"))
    return None, _short(child_text(fault, "faultstring"))


def counter_value(arguments: Dict[str, str], name: str, bits: int) -> int:
    """An unsigned counter argument (ui4, or AVM's 64-bit ones sent as strings). Raises DocumentError."""
    if name not in arguments:
        raise DocumentError("the answer has no %s" % name)
    match = _NUMBER.match(arguments[name])
    value = int(match.group(1)) if match else -1
    if not 0 <= value < 2 ** bits:
        raise DocumentError("%s is not a %d-bit counter: %s" % (name, bits, _short(arguments[name], 24)))
    return value


def _same_host(url: str, location: str) -> bool:
    a, b = urlsplit(url), urlsplit(location)
    return a.scheme in ("http", "https") and bool(a.hostname) and a.hostname == b.hostname


def _short(text: str, limit: int = 60) -> str:
    line = " ".join("".join(c if c.isprintable() else " " for c in text).split())
    return line if len(line) <= limit else line[: limit - 3] + "..."
