"""The UPnP meter against the IGD stand-in on 127.0.0.1: discovery, both counter kinds, a wrap,
and the ways a router fails."""
from __future__ import annotations

import pytest

from adapters.line.ssdp import discover
from adapters.line.upnp import UpnpLineMeter
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
