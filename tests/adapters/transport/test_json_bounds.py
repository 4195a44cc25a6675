"""decode_bounded: json.loads for every answer within the bounds, a clear refusal beyond them, fast."""
from __future__ import annotations

import json
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.transport.json_values import MAX_DEPTH, MAX_VALUES, JsonBoundsError, decode_bounded

# strings full of what the pre-scan must not take for structure: quotes, escapes, brackets, commas
TRICKY = st.text(alphabet=st.sampled_from(list('"\\[]{},:ab \u00e9\u2192\n/')), max_size=12)
VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TRICKY,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(TRICKY, children, max_size=4),
    max_leaves=30,
)


def depth(value: object) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def count(value: object) -> int:
    if isinstance(value, list):
        return 1 + sum(count(v) for v in value)
    if isinstance(value, dict):
        return 1 + sum(count(v) for v in value.values())
    return 1


@settings(max_examples=400, deadline=None)
@given(VALUES, st.booleans(), st.sampled_from([None, 1, "\t"]), st.integers(1, 8))
def test_within_the_bounds_it_is_json_loads_and_beyond_the_depth_a_refusal(value, ascii_only, indent, bound) -> None:
    body = json.dumps(value, ensure_ascii=ascii_only, indent=indent).encode("utf-8")
    if depth(value) <= bound:
        assert decode_bounded(body, max_depth=bound) == json.loads(body)
    else:
        with pytest.raises(JsonBoundsError, match="^nested more than %d deep$" % bound):
            decode_bounded(body, max_depth=bound)


@settings(max_examples=200, deadline=None)
@given(VALUES)
def test_the_value_bound_never_refuses_an_answer_with_fewer_values_than_it_counts(value) -> None:
    body = json.dumps(value).encode("utf-8")
    # it counts each container and each comma: at most twice the values a document holds
    assert decode_bounded(body, max_values=2 * count(value)) == json.loads(body)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | TRICKY.map(lambda t: t.encode("utf-8")))
def test_anything_is_decoded_or_refused_with_a_value_error(body: bytes) -> None:
    try:
        decode_bounded(body, max_depth=3, max_values=20)
    except (ValueError, RecursionError):
        pass


def test_a_391_kb_answer_nested_200000_deep_is_refused_at_once() -> None:
    body = b'{"MediaContainer": {"Metadata": [' + b"[" * 195_000 + b"]" * 195_000 + b"]}}"
    assert 390_000 < len(body) < 400_000
    started = time.perf_counter()
    with pytest.raises(JsonBoundsError, match="^nested more than %d deep$" % MAX_DEPTH):
        decode_bounded(body)
    assert time.perf_counter() - started < 0.5


def test_8_mib_of_empty_objects_is_refused_before_decoding() -> None:
    body = b"[" + b"{}," * (8 * 1024 * 1024 // 3 - 1) + b"{}]"
    with pytest.raises(JsonBoundsError, match="^more than %d values$" % MAX_VALUES):
        decode_bounded(body)


def test_escaped_quotes_and_brackets_in_strings_are_not_structure() -> None:
    body = json.dumps({"file": "C:\\Media\\\"[[[[[\"\\", "t": "{{{{,,,,"}).encode()
    assert decode_bounded(body, max_depth=1, max_values=2) == json.loads(body)
