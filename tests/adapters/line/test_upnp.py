"""The UPnP meter against the IGD stand-in on 127.0.0.1: discovery, both counter kinds, a wrap,
only the directions asked for, and the ways a router fails (trickling, oversized, cut short,
closing kept-alive connections)."""
from __future__ import annotations

import time

import pytest

from adapters.line.ssdp import discover
from adapters.line.upnp import UpnpLineMeter
from domain.limit_plan import Direction
from domain.line.counters import CounterSample, line_rates
from domain.ports import FailureKind, LineMeter, LineMeterError
from tests.support.igd_server import IgdStandIn


@pytest.fixture
def igd():
    with IgdStandIn() as device:
        yield device


def meter_for(device: IgdStandIn, **kwargs) -> UpnpLineMeter:
    return UpnpLineMeter(device.location, timeout_sec=2.0, **kwargs)


def test_discovery_finds_the_device_by_its_unicast_answer(igd):
    answers = discover(igd.ssdp_address, wait_sec=0.5)
    assert [a.location for a in answers] == [igd.location]
    assert igd.searches == ["urn:schemas-upnp-org:device:InternetGatewayDevice:2",
                            "urn:schemas-upnp-org:device:InternetGatewayDevice:1"]


def test_an_igd_2_answers_the_v2_search():
    with IgdStandIn(device_version=2, service_version=2) as device:
        meter = UpnpLineMeter(discovery_address=device.ssdp_address, discovery_wait_sec=0.5)
        device.sent, device.received = 123, 456
        counters = meter.read_counters()
        assert (counters.bytes_sent, counters.bytes_received, counters.sent_wrap_bits) == (123, 456, 32)
        meter.close()


def test_the_standard_32_bit_counters_and_a_wrap_that_is_no_burst(igd):
    meter = meter_for(igd)
    assert isinstance(meter, LineMeter)
    igd.sent, igd.received = 2 ** 32 - 1000, 5000
    first = meter.read_counters()
    assert (first.bytes_sent, first.bytes_received, first.sent_wrap_bits) == (2 ** 32 - 1000, 5000, 32)
    igd.sent += 500_000  # past 4 GiB: the router answers 499,000
    igd.received += 500_000
    second = meter.read_counters()
    assert second.bytes_sent == 499_000
    rates = line_rates(CounterSample(0, first), CounterSample(10, second), 10_000, 10_000)
    assert rates.sent_kib == pytest.approx(500_000 / 1024 / 10) and rates.received_kib == rates.sent_kib
    # a router without AVM's action is asked for it once, then only for the standard pair
    assert igd.actions == ["GetAddonInfos", "GetTotalBytesSent", "GetTotalBytesReceived",
                           "GetTotalBytesSent", "GetTotalBytesReceived"]
    meter.close()


def test_a_router_wrapping_at_2_31(igd):
    igd.wrap_modulus = 2 ** 31
    meter = meter_for(igd)
    igd.sent = igd.received = 2 ** 31 - 10
    first = meter.read_counters()
    igd.sent += 1000
    igd.received += 1000
    rates = line_rates(CounterSample(0, first), CounterSample(1, meter.read_counters()), 10_000, 10_000)
    assert rates.sent_kib == pytest.approx(1000 / 1024) and rates.failure is None


def test_avms_64_bit_counters_when_the_box_has_them():
    with IgdStandIn(avm=True) as device:
        meter = meter_for(device)
        device.sent, device.received = 2 ** 40 + 7, 2 ** 45 + 9
        counters = meter.read_counters()
        assert (counters.bytes_sent, counters.bytes_received) == (2 ** 40 + 7, 2 ** 45 + 9)
        assert counters.sent_wrap_bits == counters.received_wrap_bits == 64
        meter.read_counters()
        assert device.actions == ["GetAddonInfos", "GetAddonInfos"]
        assert meter.describe() == "UPnP router Stand-in Box (plex-helper tests IGD 1) at 127.0.0.1:%d, 64-bit " \
                                   "counters" % device.http_port
        assert meter.link_rates() == (40_000_000, 250_000_000)


def test_no_answer_to_the_search_is_a_sentence():
    with IgdStandIn(device_version=1) as device:
        meter = UpnpLineMeter(discovery_address=device.ssdp_address, discovery_wait_sec=0.3)
        device.device_version = 3  # answers no search we send
        with pytest.raises(LineMeterError) as caught:
            meter.read_counters()
        assert caught.value.kind is FailureKind.UNREACHABLE
        assert str(caught.value).startswith("no UPnP router answered within 0.3 s: is UPnP enabled on the router")


def test_a_description_with_a_dtd_is_refused(igd):
    igd.description_override = b'<!DOCTYPE x [<!ENTITY a "aaaa">]><root>&a;</root>'
    with pytest.raises(LineMeterError) as caught:
        meter_for(igd).read_counters()
    assert caught.value.kind is FailureKind.MALFORMED
    assert str(caught.value) == "the router's UPnP description at %s is declares a DTD or an entity" % igd.location


def test_an_oversized_answer_is_refused(igd):
    meter = meter_for(igd)
    meter.read_counters()
    igd.answer_override = (200, b"<x>" + b"9" * 100_000 + b"</x>")
    with pytest.raises(LineMeterError, match="unusable: an answer larger than 64 KiB"):
        meter.read_counters()


def test_a_router_that_went_away_is_unreachable_and_found_again_later():
    with IgdStandIn() as device:
        meter = UpnpLineMeter(discovery_address=device.ssdp_address, discovery_wait_sec=0.3, timeout_sec=1.0)
        meter.read_counters()
    with pytest.raises(LineMeterError) as caught:
        meter.read_counters()
    assert caught.value.kind is FailureKind.UNREACHABLE and "could not be reached" in str(caught.value)
    with IgdStandIn() as again:  # back, on other ports: a new search finds it
        meter.discovery_address = again.ssdp_address
        again.sent = 42
        assert meter.read_counters().bytes_sent == 42
        assert again.searches  # it was searched for, not remembered


def test_a_router_that_closes_every_connection_is_read_all_the_same():
    with IgdStandIn(keep_alive=False) as device:  # as miniupnpd: `Connection: close` on every answer
        meter = meter_for(device)
        for total in (10, 20, 30):
            device.sent = device.received = total
            counters = meter.read_counters()
            assert (counters.bytes_sent, counters.bytes_received) == (total, total)
        assert device.actions.count("GetTotalBytesSent") == 3
        meter.close()


@pytest.mark.parametrize("directions, actions, counters", [
    ({Direction.UPLOAD}, ["GetTotalBytesSent"], (5, 0)),
    ({Direction.DOWNLOAD}, ["GetTotalBytesReceived"], (0, 7)),
])
def test_only_the_directions_asked_for_are_requested(igd, directions, actions, counters):
    meter = meter_for(igd, directions=directions)
    igd.sent, igd.received = 5, 7
    first, second = meter.read_counters(), meter.read_counters()
    assert (first.bytes_sent, first.bytes_received) == (second.bytes_sent, second.bytes_received) == counters
    assert igd.actions == ["GetAddonInfos"] + actions * 2
    assert igd.connections_opened == 1  # the description and every reading on one kept-alive connection
    meter.close()


def test_avms_one_action_gives_both_directions_whatever_was_asked():
    with IgdStandIn(avm=True) as device:
        meter = meter_for(device, directions={Direction.UPLOAD})
        device.sent, device.received = 5, 7
        counters = meter.read_counters()
        assert (counters.bytes_sent, counters.bytes_received) == (5, 7)
        assert device.actions == ["GetAddonInfos"]
        meter.close()


def test_a_router_trickling_its_answer_fails_within_the_deadline(igd):
    meter = UpnpLineMeter(igd.location, timeout_sec=1.0)
    meter.read_counters()
    igd.trickle_sec = 0.2  # each byte within the socket timeout: only the deadline can end it
    started = time.monotonic()
    with pytest.raises(LineMeterError) as caught:
        meter.read_counters()
    assert time.monotonic() - started < 1.8
    assert caught.value.kind is FailureKind.UNREACHABLE
    assert str(caught.value) == ("the router's UPnP service at http://127.0.0.1:%d/igdupnp/control/WANCommonIFC1 "
                                 "could not be reached: no complete answer within 1 s (timed out)" % igd.http_port)
    igd.trickle_sec = None
    igd.sent = 11
    assert meter.read_counters().bytes_sent == 11  # on a new connection: the cut one is not reused
    meter.close()


def test_a_chunked_answer_over_the_cap_is_refused_and_its_connection_dropped(igd):
    meter = meter_for(igd)
    meter.read_counters()
    igd.chunked = True
    igd.answer_override = (200, b"<x>" + b"9" * 100_000 + b"</x>")
    with pytest.raises(LineMeterError, match="unusable: an answer larger than 64 KiB"):
        meter.read_counters()
    opened = igd.connections_opened
    igd.answer_override = None
    igd.sent = 12
    assert meter.read_counters().bytes_sent == 12  # chunked framing read whole when it fits
    assert igd.connections_opened == opened + 1
    meter.close()


def test_a_body_shorter_than_its_content_length_is_refused(igd):
    meter = meter_for(igd)
    meter.read_counters()
    igd.missing_body_bytes = 10
    with pytest.raises(LineMeterError) as caught:
        meter.read_counters()
    assert caught.value.kind is FailureKind.UNREACHABLE
    assert str(caught.value).endswith("could not be reached: the answer ended before its end (connection closed "
                                      "mid-body)")
    igd.missing_body_bytes = 0
    igd.sent = 13
    assert meter.read_counters().bytes_sent == 13
    meter.close()


def test_a_kept_alive_connection_the_router_closed_is_tried_once_more_on_a_new_one(igd):
    meter = meter_for(igd)
    meter.read_counters()
    assert igd.connections_opened == 1
    for total in (20, 30):
        igd.close_kept_connections()  # as a router whose keep-alive timeout passed between two polls
        igd.sent = igd.received = total
        counters = meter.read_counters()
        assert (counters.bytes_sent, counters.bytes_received) == (total, total)
    assert igd.connections_opened == 3
    assert igd.actions[-4:] == ["GetTotalBytesSent", "GetTotalBytesReceived"] * 2  # each asked once a reading
    meter.close()


def test_a_router_that_refuses_the_repeated_request_too_is_unreachable():
    with IgdStandIn() as device:
        meter = meter_for(device)
        meter.read_counters()
    with pytest.raises(LineMeterError) as caught:  # its kept-alive connection closed, and nothing listens now
        meter.read_counters()
    assert caught.value.kind is FailureKind.UNREACHABLE and str(caught.value).endswith("connection refused")


def test_a_redirect_is_an_answer_not_followed(igd):
    meter = meter_for(igd)
    meter.read_counters()
    igd.answer_override = (302, b"")
    with pytest.raises(LineMeterError, match="unusable: HTTP 302"):
        meter.read_counters()
    assert igd.actions[-1] == "GetTotalBytesSent"  # asked once, nowhere else
