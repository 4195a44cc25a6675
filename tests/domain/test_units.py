"""Rates with units: exact decimal and binary prefixes, and only ValueError for bad text."""
from fractions import Fraction

import pytest
from hypothesis import given, strategies as st

from domain.units import ACCEPTED_UNITS, UNIT_BYTES, Rate, describe_kib, format_rate, kib_as_mbit, parse_rate

EXACT = [
    ("500 KiB/s", 500 * 1024),
    ("2.5 MiB/s", 2.5 * 1024 * 1024),
    ("2.5 MB/s", 2_500_000),
    ("500 kB/s", 500_000),
    ("500 kbit/s", 62_500),
    ("20 Mbit/s", 2_500_000),
    ("unlimited", 0),
]


@pytest.mark.parametrize("text,bytes_per_sec", EXACT)
def test_prefixes_are_exact(text, bytes_per_sec):
    assert parse_rate(text).bytes_per_sec == Fraction(bytes_per_sec)


@pytest.mark.parametrize("text,kib", [
    ("20 Mbit/s", 2441),      # 2441.40625: down, so a limit never rises above what was meant
    ("2.5 MiB/s", 2560),
    ("1 kbit/s", 1),          # 0.12: never 0, which would mean unlimited
    ("1023.9 KiB/s", 1023),
    ("unlimited", 0),
])
def test_whole_kib_rounds_down_but_never_to_zero(text, kib):
    assert parse_rate(text).whole_kib() == kib


@pytest.mark.parametrize("text", ["20 mb/s", "20 kb/s", "20 mib/s", "20 kib/s"])
def test_a_small_b_is_ambiguous_and_refused(text):
    with pytest.raises(ValueError, match="ambiguous"):
        parse_rate(text)


@pytest.mark.parametrize("text", ["20 mbps", "mbps", "20 Mbps", "20 GB/s", "20 B/s", "20 bit/s"])
def test_unknown_units_list_the_accepted_ones(text):
    with pytest.raises(ValueError) as info:
        parse_rate(text)
    assert "unknown unit" in str(info.value)
    assert "use one of: KiB/s, MiB/s, kB/s, MB/s, kbit/s, Mbit/s, unlimited" in str(info.value)


@pytest.mark.parametrize("text,words", [
    ("20", "needs a unit"),
    ("", "must not be empty"),
    ("-5 KiB/s", "must not be negative"),
    ("Mbit/s", "needs a number"),
    ("1.2.3 KiB/s", "is not a number"),
    ("1" * 40 + " KiB/s", "is not a number"),
])
def test_other_bad_text_says_what_is_wrong(text, words):
    with pytest.raises(ValueError, match=words):
        parse_rate(text)


units = st.sampled_from(sorted(UNIT_BYTES))
amounts = st.fractions(min_value=0, max_value=10**9, max_denominator=10**6)


@given(amounts, units, st.integers(min_value=0, max_value=6))
def test_format_then_parse_gives_the_value_back_within_rounding(amount, unit, places):
    rate = Rate(amount * UNIT_BYTES[unit])
    text = format_rate(rate, unit, places)
    back = parse_rate(text)
    if rate.unlimited:
        assert back.unlimited
    else:
        assert abs(back.amount_in(unit) - amount) <= Fraction(1, 2 * 10**places)


@given(st.integers(min_value=0, max_value=10**12), units)
def test_whole_numbers_round_trip_exactly(amount, unit):
    rate = Rate.of(amount, unit)
    assert parse_rate(format_rate(rate, unit)) == rate


def _vary_case(unit: str, flips):
    """Any case, except that a byte unit keeps its capital B (a small b would be ambiguous)."""
    return "".join(
        ch if ch == "B" else (ch.upper() if flip else ch.lower()) for ch, flip in zip(unit, flips)
    )


@given(
    st.integers(min_value=1, max_value=10**6), units, st.lists(st.booleans(), min_size=6, max_size=6),
    st.sampled_from(["", " ", "  ", "\t"]), st.sampled_from(["", " ", "\n"]), st.sampled_from(["", " "]),
)
def test_case_and_whitespace_do_not_matter(amount, unit, flips, before, between, after):
    text = "%s%d%s%s%s" % (before, amount, between, _vary_case(unit, flips), after)
    assert parse_rate(text) == Rate.of(amount, unit)


@given(st.sampled_from(["unlimited", "UNLIMITED", " Unlimited ", "unLimited\n"]))
def test_unlimited_is_zero(text):
    assert parse_rate(text).unlimited and parse_rate(text).whole_kib() == 0


@given(st.text())
def test_any_text_is_a_rate_or_a_value_error(text):
    try:
        rate = parse_rate(text)
    except ValueError as err:
        assert str(err) and "\n" not in str(err)
    else:
        assert rate.bytes_per_sec >= 0


@given(st.text(alphabet=st.sampled_from("0123456789. kKmMiIbBtTsS/pP\u00b5\u00e9"), max_size=20))
def test_text_near_the_grammar_is_a_rate_or_a_value_error(text):
    try:
        parse_rate(text)
    except ValueError:
        pass


@given(st.fractions(min_value=0, max_value=10**9))
def test_whole_kib_never_raises_a_limit_and_never_makes_it_unlimited(kib):
    rate = Rate.of(kib, "KiB/s")
    whole = rate.whole_kib()
    if kib == 0:
        assert whole == 0
    else:
        assert whole >= 1 and (whole <= kib or whole == 1)


def test_accepted_units_are_what_the_errors_list():
    assert ACCEPTED_UNITS == ("KiB/s", "MiB/s", "kB/s", "MB/s", "kbit/s", "Mbit/s", "unlimited")


def test_describe_kib_gives_both_units():
    assert describe_kib(0) == "unlimited"
    assert describe_kib(500) == "500 KiB/s (4.1 Mbit/s)"
    assert describe_kib(1) == "1 KiB/s (0.008 Mbit/s)"
    assert kib_as_mbit(1) == pytest.approx(0.008192)
