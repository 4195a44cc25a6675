"""The SNMP meter against Debian's real snmpd serving this machine's IF-MIB, and its pure parts."""
from __future__ import annotations

import gc
import importlib.util
import socket
import subprocess
import sys
import time
import warnings
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.line import snmp as snmp_module
from adapters.line.snmp import Interface, SnmpLineMeter, choose_interface, printable
from domain.ports import FailureKind, LineMeter, LineMeterError
from tests.adapters.line.loopback import lo_counters, send_over_loopback
from tests.support.snmpd_daemon import running_snmpd, snmpd, snmpd_without_ifxtable  # noqa: F401

needs_pysnmp = pytest.mark.skipif(importlib.util.find_spec("pysnmp") is None,
                                  reason="pysnmp is not installed (requirements.lock)")

tables = st.dictionaries(st.integers(1, 2 ** 31 - 1), st.text(max_size=12), max_size=8)


@given(tables, tables, st.one_of(st.integers(0, 2 ** 31 - 1), st.text(max_size=12)))
def test_the_chosen_interface_is_one_that_matches(names, descrs, wanted):
    chosen = choose_interface(wanted, names, descrs)
    if chosen is None:
        if isinstance(wanted, int):
            assert wanted not in names and wanted not in descrs
        else:
            folded = wanted.casefold()
            assert all(v.casefold() != folded for v in list(names.values()) + list(descrs.values()))
    elif isinstance(wanted, int):
        assert chosen.index == wanted
    else:
        assert wanted.casefold() in (names.get(chosen.index, "").casefold(), descrs.get(chosen.index, "").casefold())


def test_exact_names_before_folded_ones_and_ifname_before_ifdescr():
    names = {1: "lo", 2: "ETH0", 3: "wan"}
    descrs = {1: "lo", 2: "eth0", 3: "Intel NIC", 4: "wan"}
    assert choose_interface("eth0", names, descrs) == Interface(2, "ETH0")
    assert choose_interface("wan", names, descrs) == Interface(3, "wan")
    assert choose_interface("intel nic", names, descrs) == Interface(3, "wan")


@given(st.text(max_size=300))
def test_foreign_text_prints_as_one_short_line(text):
    line = printable(text)
    assert len(line) <= 80 and "\n" not in line and "\r" not in line


@needs_pysnmp
def test_reads_lo_and_sees_the_bytes_sent_over_it(snmpd):
    meter = SnmpLineMeter(snmpd.host, snmpd.community, "lo", port=snmpd.port)
    assert isinstance(meter, LineMeter)
    with closing(meter):
        reads_lo_over_snmp(meter)


def reads_lo_over_snmp(meter: SnmpLineMeter) -> None:
    before = meter.read_counters()
    assert before.sent_wrap_bits == 64 and before.received_wrap_bits == 64
    reference_before = lo_counters()
    sent = 8 * 1024 * 1024
    send_over_loopback(sent)
    # the agent caches its interface table for a few seconds: wait until it shows the payload
    deadline = time.monotonic() + 20
    after = meter.read_counters()
    while after.bytes_sent < reference_before[1] + sent and time.monotonic() < deadline:
        time.sleep(0.5)
        after = meter.read_counters()
    reference_after = lo_counters()
    # everything we sent, nothing the kernel had not counted by the end (other loopback traffic
    # between the readings is in both, so the bracket holds whatever else runs on this machine)
    assert reference_before[1] + sent <= after.bytes_sent <= reference_after[1]
    assert reference_before[0] + sent <= after.bytes_received <= reference_after[0]
    seen = after.bytes_sent - before.bytes_sent
    assert seen >= sent
    if reference_after[1] - reference_before[1] <= sent * 1.05:  # loopback was otherwise quiet
        assert seen <= sent * 1.05


@needs_pysnmp
def test_chooses_by_index_and_describes(snmpd):
    with closing(SnmpLineMeter(snmpd.host, snmpd.community, 1, port=snmpd.port)) as meter:
        text = meter.describe()
    assert text.startswith("the SNMP agent at 127.0.0.1:%d (Linux" % snmpd.port)
    assert text.endswith("interface 1 lo, 64-bit counters")


@needs_pysnmp
def test_an_unknown_interface_lists_the_ones_there(snmpd):
    with closing(SnmpLineMeter(snmpd.host, snmpd.community, "wan9", port=snmpd.port)) as meter:
        with pytest.raises(LineMeterError) as caught:
            meter.read_counters()
    assert "has no interface wan9; it has: 1 lo" in str(caught.value)


@needs_pysnmp
def test_a_wrong_community_is_silence_and_says_so(snmpd):
    meter = SnmpLineMeter(snmpd.host, "wrong", "lo", port=snmpd.port, timeout_sec=0.3, retries=0)
    started = time.monotonic()
    with closing(meter), pytest.raises(LineMeterError) as caught:
        meter.read_counters()
    assert caught.value.kind is FailureKind.UNREACHABLE
    assert "did not answer" in str(caught.value) and "community" in str(caught.value)
    assert "wrong" not in str(caught.value).replace("is the community right", "")  # the secret stays out
    assert time.monotonic() - started < 5


@needs_pysnmp
def test_nobody_listening_is_unreachable():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as spare:
        spare.bind(("127.0.0.1", 0))
        port = spare.getsockname()[1]
    meter = SnmpLineMeter("127.0.0.1", "x", "lo", port=port, timeout_sec=0.3, retries=0)
    with closing(meter), pytest.raises(LineMeterError, match="did not answer"):
        meter.read_counters()


@needs_pysnmp
def test_an_agent_without_ifxtable_gives_32_bit_counters_found_by_ifdescr(snmpd_without_ifxtable):
    agent = snmpd_without_ifxtable
    with closing(SnmpLineMeter(agent.host, agent.community, "LO", port=agent.port)) as meter:  # ifDescr, folded
        before = meter.read_counters()
        assert (before.sent_wrap_bits, before.received_wrap_bits) == (32, 32)
        reference = lo_counters()
        assert before.bytes_sent <= reference[1] % 2 ** 32 or reference[1] >= 2 ** 32
        assert meter.describe().endswith("interface 1 lo, 32-bit counters")


def test_without_pysnmp_the_meter_says_what_is_missing(monkeypatch):
    def missing():
        raise ImportError("No module named 'pysnmp'")

    monkeypatch.setattr(snmp_module, "_session_class", missing)
    with pytest.raises(LineMeterError, match="needs the Python package pysnmp, which is not installed"):
        SnmpLineMeter("127.0.0.1", "x", "lo").read_counters()


@needs_pysnmp
def test_one_session_for_many_readings_and_a_new_one_after_the_agent_went_away(monkeypatch):
    real_lookup = socket.getaddrinfo
    lookups = []

    def counted_lookup(host, port, *args, **kwargs):  # the real thing, counted
        lookups.append((host, port))
        return real_lookup(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", counted_lookup)
    with running_snmpd() as agent:
        port, community = agent.port, agent.community
        meter = SnmpLineMeter(agent.host, community, "lo", port=port, timeout_sec=0.3, retries=0)
        first = [meter.read_counters() for _ in range(3)]
        assert all(c.sent_wrap_bits == 64 for c in first) and lookups == [("127.0.0.1", port)]
    with closing(meter):
        with pytest.raises(LineMeterError) as caught:
            meter.read_counters()
        assert caught.value.kind is FailureKind.UNREACHABLE and "did not answer" in str(caught.value)
        with running_snmpd(port=port, community=community):  # back where it was
            assert meter.read_counters().bytes_sent >= first[-1].bytes_sent
        assert lookups == [("127.0.0.1", port)] * 2  # looked up again after the failure, once


@needs_pysnmp
def test_a_meter_never_closed_is_shut_when_collected(snmpd):
    snmp_module._session_class()  # imported before: the frames of the call that first imports pysnmp outlive it
    meter = SnmpLineMeter(snmpd.host, snmpd.community, "lo", port=snmpd.port)
    meter.read_counters()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        del meter
        gc.collect()
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]  # no socket left open


@needs_pysnmp
def test_the_session_loads_pysnmp_without_asyncio():
    # in a fresh interpreter: pytest and its plugins may have loaded asyncio in this one
    code = "import sys, adapters.line.snmp_session; print('asyncio' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                            cwd=str(Path(__file__).resolve().parents[3]))
    assert result.stdout.strip() == "False", result.stderr
