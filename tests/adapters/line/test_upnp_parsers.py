"""What a UPnP router sends, read by the line meter's parsers: SSDP answers, device descriptions,
SOAP answers. Each must refuse what it cannot read with its own error, never another exception."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.line.ssdp import parse_answer, search_message
from adapters.line.upnp_xml import (
    MAX_DOCUMENT_BYTES, DocumentError, SoapFault, counter_value, find_counter_service, parse_document,
    parse_soap_answer,
)
from tests.support.igd_server import ENVELOPE, FAULT, IgdStandIn, description

hosts = st.ip_addresses(v=4).map(str)
ports = st.integers(1, 65535)
paths = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_./", max_size=30).map(lambda p: "/" + p)
names = st.text(max_size=40).filter(lambda t: all(c.isprintable() for c in t) and "\ufffe" not in t)


# ---------------------------------------------------------------------------------------- SSDP

def ssdp_answer(location: str, st_: str = "urn:schemas-upnp-org:device:InternetGatewayDevice:1") -> bytes:
    return ("HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\nEXT:\r\nLOCATION: %s\r\nSERVER: x UPnP/1.0 y\r\n"
            "ST: %s\r\nUSN: uuid:1::%s\r\n\r\n" % (location, st_, st_)).encode("latin-1")


@given(hosts, ports, paths)
def test_an_answer_gives_its_location(host, port, path):
    location = "http://%s:%d%s" % (host, port, path)
    answer = parse_answer(ssdp_answer(location), host)
    assert answer is not None and answer.location == location
    assert answer.search_target == "urn:schemas-upnp-org:device:InternetGatewayDevice:1"


@given(hosts, hosts, ports)
def test_an_answer_pointing_at_another_host_is_ignored(host, sender, port):
    answer = parse_answer(ssdp_answer("http://%s:%d/d.xml" % (host, port)), sender)
    assert (answer is not None) == (host == sender)


@given(st.binary(max_size=600))
def test_any_datagram_is_an_answer_or_nothing(data):
    answer = parse_answer(data, "192.0.2.1")
    assert answer is None or answer.location.startswith(("http://192.0.2.1", "https://192.0.2.1"))


@pytest.mark.parametrize("data", [
    b"HTTP/1.1 404 Not Found\r\nLOCATION: http://192.0.2.1/x\r\n\r\n",
    b"NOTIFY * HTTP/1.1\r\nLOCATION: http://192.0.2.1/x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nLOCATION: file:///etc/passwd\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nLOCATION: http://192.0.2.1:notaport/x\r\n\r\n",
    b"HTTP/1.1 200 OK\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nLOCATION: http://192.0.2.1/x\r\n" + b"X: y\r\n" * 2000,
])
def test_what_is_not_a_usable_answer(data):
    assert parse_answer(data, "192.0.2.1") is None


def test_the_search_says_what_the_spec_asks():
    message = search_message("urn:schemas-upnp-org:device:InternetGatewayDevice:1", ("239.255.255.250", 1900))
    assert message == (b'M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nMAN: "ssdp:discover"\r\nMX: 2\r\n'
                       b"ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n\r\n")


# ---------------------------------------------------------------------------------------- XML

@given(st.binary(max_size=2000))
def test_any_bytes_are_a_document_or_a_document_error(data):
    try:
        assert isinstance(parse_document(data), ET.Element)
    except DocumentError:
        pass


@pytest.mark.parametrize("document", [
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><root>&lol2;</root>',
    b'<!doctype root SYSTEM "http://192.0.2.1/evil.dtd"><root/>',
    b'<?xml version="1.0" encoding="utf-7"?><root>+ADwAIQ-DOCTYPE</root>',  # parsed as the text it is
    '<?xml version="1.0" encoding="utf-16"?><root/>'.encode("utf-16"),
    b"<root>" + b"x" * MAX_DOCUMENT_BYTES + b"</root>",
    b"<root><unclosed></root>",
])
def test_dangerous_or_broken_documents_are_refused_or_read_as_plain_text(document):
    try:
        root = parse_document(document)
    except DocumentError:
        return
    assert root.text == "+ADwAIQ-DOCTYPE"  # the declared encoding changes nothing


def test_the_stand_ins_descriptions_name_the_counter_service():
    for device, service in ((1, 1), (2, 1), (2, 2)):
        found = find_counter_service(description(device, service).encode(), "http://127.0.0.1:49000/igddesc.xml")
        assert found.service_type == "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:%d" % service
        assert found.control_url == "http://127.0.0.1:49000/igdupnp/control/WANCommonIFC1"
        assert (found.friendly_name, found.manufacturer, found.model) == (
            "Stand-in Box", "plex-helper tests", "IGD %d" % device)


def test_urlbase_is_honoured_but_may_not_leave_the_host():
    same = description(1, 1, url_base="http://127.0.0.1:5000/").encode()
    assert find_counter_service(same, "http://127.0.0.1:49000/d.xml").control_url.startswith("http://127.0.0.1:5000/")
    other = description(1, 1, url_base="http://192.0.2.9/").encode()
    with pytest.raises(DocumentError, match="another host"):
        find_counter_service(other, "http://127.0.0.1:49000/d.xml")


@given(names, names, names)
def test_any_names_in_a_description_come_back_printable(friendly, manufacturer, model):
    text = description(1, 1).replace("Stand-in Box</friendlyName>", escape(friendly) + "</friendlyName>", 1)
    text = text.replace("plex-helper tests", escape(manufacturer)).replace("IGD 1</modelName>", escape(model)
                                                                           + "</modelName>")
    found = find_counter_service(text.encode(), "http://127.0.0.1/d.xml")
    for value in (found.friendly_name, found.manufacturer, found.model):
        assert len(value) <= 60 and all(c.isprintable() for c in value)


def test_a_description_without_counters_says_so():
    text = description(1, 1).replace("WANCommonInterfaceConfig", "WANSomethingElse")
    with pytest.raises(DocumentError, match="no WANCommonInterfaceConfig"):
        find_counter_service(text.encode(), "http://127.0.0.1/d.xml")


# ---------------------------------------------------------------------------------------- SOAP

SERVICE = "urn:schemas-upnp-org:service:WANCommonInterfaceConfig:1"


@given(st.integers(0, 2 ** 32 - 1))
def test_a_counter_answer_reads_back(value):
    device = IgdStandIn()  # not entered: only its answers are used, nothing listens
    device.sent = value
    status, body = device.soap("GetTotalBytesSent")
    assert status == 200
    assert counter_value(parse_soap_answer(body.encode(), "GetTotalBytesSent"), "NewTotalBytesSent", 32) == value


@given(st.binary(max_size=1500), st.sampled_from(["GetTotalBytesSent", "GetAddonInfos"]))
def test_any_answer_is_arguments_or_a_fault_or_a_document_error(data, action):
    try:
        assert isinstance(parse_soap_answer(data, action), dict)
    except (DocumentError, SoapFault):
        pass


def test_a_fault_carries_its_upnp_error():
    with pytest.raises(SoapFault) as caught:
        parse_soap_answer((ENVELOPE % (FAULT % (401, "Invalid Action"))).encode(), "GetAddonInfos")
    assert caught.value.invalid_action and str(caught.value) == "UPnP error 401 (Invalid Action)"


@given(st.text(max_size=30), st.sampled_from([32, 64]))
def test_a_counter_argument_is_a_number_in_range_or_an_error(text, bits):
    try:
        value = counter_value({"NewTotalBytesSent": text}, "NewTotalBytesSent", bits)
    except DocumentError as exc:
        assert len(str(exc)) < 120
        return
    assert 0 <= value < 2 ** bits and text.strip() == str(value).rjust(len(text.strip()), "0")


def test_a_value_wider_than_its_counter_is_refused():
    with pytest.raises(DocumentError, match="not a 32-bit counter"):
        counter_value({"NewTotalBytesSent": str(2 ** 32)}, "NewTotalBytesSent", 32)
    with pytest.raises(DocumentError, match="no NewTotalBytesSent"):
        counter_value({}, "NewTotalBytesSent", 32)
