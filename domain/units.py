"""Upload rates written with a unit: "20 Mbit/s", "2.5 MiB/s", "500 KiB/s", "unlimited".

Decimal and binary prefixes are exact and never mixed up:

    kB/s   = 1000 bytes/s          MB/s   = 1 000 000 bytes/s
    KiB/s  = 1024 bytes/s          MiB/s  = 1 048 576 bytes/s
    kbit/s = 1000 bits/s (125 B/s) Mbit/s = 1 000 000 bits/s (125 000 B/s)

Plex reports bandwidth in kbit/s; qBittorrent and the config's `*_kbps` fields use KiB/s.
Units are read without regard to case or spaces, except that a byte unit needs its capital B:
"mb/s" could be megabits or megabytes, so it is refused with a hint rather than guessed.
Numbers are plain decimals ("2.5", "20", ".5"): no sign, no exponent. Values are kept as exact
fractions of bytes per second, so converting never loses anything until a caller rounds.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from fractions import Fraction
from math import floor

# the accepted spelling -> bytes per second for one of it
UNIT_BYTES = {
    "KiB/s": Fraction(1024),
    "MiB/s": Fraction(1024 * 1024),
    "kB/s": Fraction(1000),
    "MB/s": Fraction(1000 * 1000),
    "kbit/s": Fraction(1000, 8),
    "Mbit/s": Fraction(1000 * 1000, 8),
}
UNLIMITED = "unlimited"
ACCEPTED_UNITS = tuple(UNIT_BYTES) + (UNLIMITED,)

_BY_KEY = {name.lower(): name for name in UNIT_BYTES}
_NUMBER = re.compile(r"^(?:[0-9]{1,15}(?:\.[0-9]{0,9})?|\.[0-9]{1,9})$")
_MAX_SHOWN = 20  # how much of an unknown unit an error quotes


class UnitMissing(ValueError):
    """A plain number where a unit was needed: which unit was meant cannot be known."""


@dataclass(frozen=True, order=True)
class Rate:
    """A rate in bytes per second, exact; 0 means unlimited wherever a limit is meant."""

    bytes_per_sec: Fraction

    def __post_init__(self) -> None:
        if self.bytes_per_sec < 0:
            raise ValueError("a rate cannot be negative")

    @classmethod
    def of(cls, amount: "int | str | Fraction", unit: str) -> "Rate":
        """`Rate.of(20, "Mbit/s")`; `unit` must be one of UNIT_BYTES, spelled exactly."""
        return cls(Fraction(amount) * UNIT_BYTES[unit])

    @property
    def unlimited(self) -> bool:
        return self.bytes_per_sec == 0

    def amount_in(self, unit: str) -> Fraction:
        """How many of `unit` (one of UNIT_BYTES) this rate is, exactly."""
        return self.bytes_per_sec / UNIT_BYTES[unit]

    def whole_kib(self) -> int:
        """KiB/s rounded down, so a limit is never raised above what was meant, but at least 1
        for any rate above 0 (0 would mean unlimited)."""
        if self.unlimited:
            return 0
        return max(1, floor(self.amount_in("KiB/s")))


def parse_rate(text: str) -> Rate:
    """A rate from text such as "20 Mbit/s" or "unlimited" (= Rate(0)).

    Raises ValueError, and only ValueError, with a complete sentence fragment for any other text.
    A number without a unit is refused: which unit was meant cannot be known.
    """
    if not isinstance(text, str):
        raise ValueError("must be text such as \"20 Mbit/s\"")
    text = text.strip()
    if not text:
        raise ValueError("must not be empty; write for example \"20 Mbit/s\" or \"500 KiB/s\"")
    if text.lower() == UNLIMITED:
        return Rate(Fraction(0))
    if text.startswith("-"):
        raise ValueError("must not be negative")
    number = text[: len(text) - len(text.lstrip("0123456789."))]
    unit = "".join(text[len(number):].split())
    if unit:
        unit = _unit_name(unit)  # an unknown unit is the more useful thing to hear about
    if not number:
        raise ValueError("needs a number before the unit, for example \"20 Mbit/s\"")
    if not _NUMBER.match(number):
        raise ValueError("%s is not a number such as 2.5 (at most 15 digits before the point, 9 after)"
                         % json.dumps(number[:_MAX_SHOWN]))
    if not unit:
        raise UnitMissing("needs a unit, for example \"%s KiB/s\" or \"%s Mbit/s\" (units: %s)"
                          % (number, number, _accepted()))
    return Rate(Fraction(number) * UNIT_BYTES[unit])


def _unit_name(unit: str) -> str:
    key = unit.lower()
    if key in _BY_KEY and (key.endswith("bit/s") or "B" in unit):
        return _BY_KEY[key]
    shown = json.dumps(unit if len(unit) <= _MAX_SHOWN else unit[:_MAX_SHOWN] + "...")  # quoted, escaped
    if key in _BY_KEY:  # a byte unit written with a small b
        kilo = key.startswith("k")
        raise ValueError(
            "unit %s is ambiguous: write %s for %s or %s for %s"
            % (shown, "kbit/s" if kilo else "Mbit/s", "kilobits" if kilo else "megabits",
               _BY_KEY[key], "kibibytes" if "i" in key else ("kilobytes" if kilo else "megabytes"))
        )
    raise ValueError("unknown unit %s; use one of: %s" % (shown, _accepted()))


def _accepted() -> str:
    return ", ".join(ACCEPTED_UNITS)


def format_rate(rate: Rate, unit: str = "KiB/s", places: int = 3) -> str:
    """`rate` in `unit` with at most `places` decimals (trailing zeros dropped), or "unlimited".
    parse_rate(format_rate(r, unit, p)) is within half a unit of the last place of r."""
    if rate.unlimited:
        return UNLIMITED
    amount = rate.amount_in(unit)
    scaled = round(amount * 10 ** places)  # round half to even, exactly
    whole, part = divmod(scaled, 10 ** places)
    digits = ("%0*d" % (places, part)).rstrip("0") if places else ""
    return "%d%s %s" % (whole, "." + digits if digits else "", unit)


def kib_as_mbit(kib_per_sec: int) -> float:
    """A KiB/s figure in Mbit/s (1 KiB/s = 0.008192 Mbit/s)."""
    return float(Rate.of(kib_per_sec, "KiB/s").amount_in("Mbit/s"))


def describe_kib(kib_per_sec: int) -> str:
    """A limit in KiB/s for people: "unlimited" for 0, else "500 KiB/s (4.1 Mbit/s)"."""
    if kib_per_sec == 0:
        return UNLIMITED
    mbit = kib_as_mbit(kib_per_sec)
    return "%d KiB/s (%s Mbit/s)" % (kib_per_sec, ("%.1f" if mbit >= 0.1 else "%.3f") % mbit)
