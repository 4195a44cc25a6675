"""A line meter's byte counters, and the rates two readings of them give.

Counters come from a router (UPnP IGD, SNMP) or from this host's interface; they only ever grow,
except that they wrap (a 32-bit counter at 4 GiB, some routers' at 2 GiB) and that they start again
from zero when the router reboots. `line_rates` tells these apart by plausibility: a wrap implies a
rate the line could carry, a reset or a garbled reading does not.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

WRAP_BITS = (32, 64)


@dataclass(frozen=True)
class LineCounters:
    """The bytes the line has sent (upload) and received (download) since the counters started.

    `*_wrap_bits` is the counter's width: a 32-bit counter wraps to 0 after 2^32 - 1 bytes.
    A meter asked for one direction only may leave the other at a constant 0 (UPnP's standard
    counters cost a request each): that reads as no traffic, never as a failure, and the tracker
    uses only the directions it measures.
    """

    bytes_sent: int
    bytes_received: int
    sent_wrap_bits: int = 64
    received_wrap_bits: int = 64

    def __post_init__(self) -> None:
        for value, bits in ((self.bytes_sent, self.sent_wrap_bits), (self.bytes_received, self.received_wrap_bits)):
            if bits not in WRAP_BITS:
                raise ValueError("a counter is 32 or 64 bits wide, not %r" % (bits,))
            if not 0 <= value < 2 ** bits:
                raise ValueError("a %d-bit counter cannot hold %r" % (bits, value))


@dataclass(frozen=True)
class CounterSample:
    """One reading and when it was taken (seconds on a monotonic clock)."""

    at: float
    counters: LineCounters


@dataclass(frozen=True)
class CounterDelta:
    """What one counter moved between two readings: `bytes`, or `failure` (a sentence) when the
    readings make no sense together."""

    bytes: Optional[int] = None
    failure: Optional[str] = None


def counter_delta(previous: int, current: int, wrap_bits: int, max_bytes: float) -> CounterDelta:
    """The bytes a counter moved from `previous` to `current`, at most `max_bytes` to be plausible.

    A caller may rely on: a counter that grew gives the growth, whatever its size (the rate check is
    the caller's); one that went down is read as a wrap when the wrapped distance is at most
    `max_bytes`; a 32-bit counter is also tried as wrapping at 2^31 (some routers' counters are
    signed); anything else going down is a failure (a reboot reset the counters, or a garbled reading).
    A 64-bit counter never wraps in practice (580 years at 1 Gbit/s), so going down is always a reset.
    """
    if current >= previous:
        return CounterDelta(bytes=current - previous)
    if wrap_bits == 32:
        # the smaller distance first: of two readings that fit, the one that implies less traffic
        moduli: Tuple[int, ...] = (2 ** 31, 2 ** 32) if previous < 2 ** 31 and current < 2 ** 31 else (2 ** 32,)
        for modulus in moduli:
            wrapped = current + modulus - previous
            if 0 <= wrapped <= max_bytes:
                return CounterDelta(bytes=wrapped)
    return CounterDelta(failure="the line meter's counter went back from %d to %d bytes: the router restarted or "
                                "answered nonsense" % (previous, current))


@dataclass(frozen=True)
class LineRates:
    """The line's rates between two samples, in KiB/s; `None` for a direction whose counters made
    no sense (`failure` says why). `elapsed` is the time between the samples, in seconds."""

    elapsed: float
    sent_kib: Optional[float]
    received_kib: Optional[float]
    failure: Optional[str] = None


def line_rates(previous: CounterSample, current: CounterSample, max_sent_kib: float,
               max_received_kib: float) -> Optional[LineRates]:
    """The rates between two samples, or None when no time passed between them (nothing to divide by).

    `max_*_kib` bound what a wrap may imply (the rate the line could carry at most). A direction that
    grew is returned whatever its rate: judging a too-high rate is the budget's job.
    """
    elapsed = current.at - previous.at
    if not elapsed > 0:
        return None
    failures = []
    rates = []
    was, now = previous.counters, current.counters
    for before, after, bits_before, bits, max_kib in (
        (was.bytes_sent, now.bytes_sent, was.sent_wrap_bits, now.sent_wrap_bits, max_sent_kib),
        (was.bytes_received, now.bytes_received, was.received_wrap_bits, now.received_wrap_bits, max_received_kib),
    ):
        if bits_before != bits:  # the meter switched counters (64-bit ones vanished): no common scale
            delta = CounterDelta(failure="the line meter switched from %d-bit to %d-bit counters" % (bits_before, bits))
        else:
            delta = counter_delta(before, after, bits, max_kib * 1024 * elapsed)
        if delta.failure is not None:
            failures.append(delta.failure)
        rates.append(None if delta.bytes is None else delta.bytes / 1024 / elapsed)
    return LineRates(elapsed, rates[0], rates[1], failures[0] if failures else None)
