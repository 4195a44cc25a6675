"""The host meter: /proc/net/dev read for one interface, held to known loopback traffic."""
from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.line.host import HostInterfaceMeter, parse_proc_net_dev
from domain.ports import LineMeter, LineMeterError
from tests.adapters.line.loopback import lo_counters, send_over_loopback

HEADER = (
    "Inter-|   Receive                                                |  Transmit\n"
    " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier "
    "compressed\n"
)
names = st.text(alphabet=string.ascii_letters + string.digits + "-_.@", min_size=1, max_size=15)
counter = st.integers(0, 2 ** 64 - 1)


def kernel_line(name: str, received: int, sent: int) -> str:
    # the kernel's own format: "%6s: %7llu %7llu ..." (net/core/net-procfs.c), 8 receive then 8 transmit
    return "%6s: %7d %7d %4d %4d %4d %5d %10d %9d %8d %7d %4d %4d %4d %5d %7d %10d\n" % (
        name, received, 1, 0, 0, 0, 0, 0, 0, sent, 2, 0, 0, 0, 0, 0, 0)


@given(st.dictionaries(names, st.tuples(counter, counter), max_size=8))
def test_parses_what_the_kernel_writes(table):
    text = HEADER + "".join(kernel_line(name, rx, tx) for name, (rx, tx) in table.items())
    assert parse_proc_net_dev(text) == table


@given(st.text(max_size=400))
def test_any_text_parses_to_a_table_or_nothing(text):
    table = parse_proc_net_dev(text)
    assert all(isinstance(rx, int) and isinstance(tx, int) and rx >= 0 and tx >= 0 for rx, tx in table.values())


def test_a_missing_interface_is_named_with_the_ones_present(tmp_path):
    path = tmp_path / "dev"
    path.write_text(HEADER + kernel_line("lo", 5, 5) + kernel_line("eth0", 7, 8))
    with pytest.raises(LineMeterError) as caught:
        HostInterfaceMeter("wan0", str(path)).read_counters()
    assert str(caught.value) == "the interface 'wan0' is not in %s; this machine has: eth0, lo" % path


def test_an_unreadable_file_is_a_sentence(tmp_path):
    with pytest.raises(LineMeterError, match="could not be read"):
        HostInterfaceMeter("lo", str(tmp_path / "absent")).read_counters()


def test_a_32_bit_kernel_guess_widens_when_a_counter_says_otherwise(tmp_path):
    path = tmp_path / "dev"
    path.write_text(HEADER + kernel_line("eth0", 2 ** 40, 3))
    meter = HostInterfaceMeter("eth0", str(path), wrap_bits=32)
    counters = meter.read_counters()
    assert (counters.bytes_sent, counters.bytes_received, counters.sent_wrap_bits) == (3, 2 ** 40, 64)


def test_the_loopback_meter_sees_the_bytes_sent_over_it():
    meter = HostInterfaceMeter("lo")
    assert isinstance(meter, LineMeter)
    before = meter.read_counters()
    reference_before = lo_counters()
    sent = 8 * 1024 * 1024
    send_over_loopback(sent)
    after = meter.read_counters()
    reference_after = lo_counters()
    # every byte of the payload crossed lo; nothing beyond what the kernel counted by the end
    assert before.bytes_sent + sent <= after.bytes_sent <= reference_after[1]
    assert before.bytes_received + sent <= after.bytes_received <= reference_after[0]
    assert reference_before[1] >= before.bytes_sent
    assert "lo" in meter.describe()
