"""unfit_for_header: the one rule for what can go into an HTTP header value, and the places that use it."""
from __future__ import annotations

import http.client

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.transport.headers import unfit_for_header
from adapters.media.jellyfin.source import EMBY, JELLYFIN, check_api_key
from adapters.notify.targets import validate_target_spec
from adapters.media.plex.source import plex_endpoint

CONTROL = {chr(c) for c in range(0x20)} | {"\x7f"}  # RFC 5234 CTL
VISIBLE_ASCII = {chr(c) for c in range(0x21, 0x7F)}

# text that reaches every boundary: ASCII, controls, Latin-1 (C1 too), beyond Latin-1, surrogates
any_text = st.text(st.characters(max_codepoint=0x2FF) | st.characters(), max_size=40)
refusable = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=4)


def fits(text: str, **kwargs) -> bool:
    return unfit_for_header(text, **kwargs) == ""


@given(any_text)
def test_accepted_free_text_has_no_line_break_nul_or_control_and_encodes_as_the_header_codec(text: str) -> None:
    if fits(text):
        assert not any(ch in text for ch in "\r\n\0")
        assert not set(text) & (CONTROL - {"\t"})  # the tab is the one control a field value may hold
        encoded = text.encode("latin-1")  # what http.client does with a str header value
        assert not http.client._is_illegal_header_value(encoded)


@given(any_text)
def test_the_unfit_characters_are_exactly_those_refused_one_by_one_in_order(text: str) -> None:
    unfit = unfit_for_header(text)
    assert unfit == "".join(ch for ch in text if not fits(ch))
    assert fits("".join(ch for ch in text if ch not in unfit))


@given(any_text)
def test_a_token_is_accepted_exactly_when_it_is_printable_ascii_without_spaces(text: str) -> None:
    assert fits(text, token=True) == (set(text) <= VISIBLE_ASCII)
    if fits(text, token=True):
        assert fits(text)  # a token is stricter than free text, never looser


@given(any_text, refusable)
def test_refuse_takes_out_its_characters_and_nothing_else(text: str, refuse: str) -> None:
    for token in (False, True):
        strict = unfit_for_header(text, token=token, refuse=refuse)
        assert strict == "".join(ch for ch in text if ch in refuse or not fits(ch, token=token))
        assert not fits(text + refuse[0], token=token, refuse=refuse)


@pytest.mark.parametrize("text", ["", "abc", "Bearer x.y-z", 'MediaBrowser Token="k"', "a\tb", "caf\xe9", "\x85\xff"])
def test_free_text_examples_fit(text: str) -> None:
    assert fits(text)


@pytest.mark.parametrize(
    "text", ["a\rb", "a\nb", "a\0b", "a\x01b", "a\x1fb", "a\x7fb", "\u20ac", "\ud800", "\U0001f600"]
)
def test_free_text_examples_do_not_fit(text: str) -> None:
    assert not fits(text)


@pytest.mark.parametrize("text", ["a b", "a\tb", "caf\xe9", "\x7f"])
def test_token_examples_do_not_fit(text: str) -> None:
    assert not fits(text, token=True)


def test_refuse_is_for_a_quoted_parameter() -> None:
    assert fits('a"b\\c', token=True)
    assert unfit_for_header('a"b\\c', token=True, refuse='"\\') == '"\\'


# ------------------------------------------------------------------------------------------ the places using it


@given(st.text(max_size=20))
def test_plex_endpoint_takes_exactly_the_tokens_that_fit(token: str) -> None:
    stripped = token.strip()
    if set(stripped) <= VISIBLE_ASCII:
        _url, headers = plex_endpoint("http://plex:32400", token, "id", "1")
        assert headers.get("X-Plex-Token", "") == stripped
    else:
        with pytest.raises(ValueError, match="^the Plex token contains characters that cannot go in an HTTP header$"):
            plex_endpoint("http://plex:32400", token, "id", "1")


@given(st.text(max_size=20))
def test_jellyfin_takes_exactly_the_nonempty_keys_that_fit_a_quoted_parameter(api_key: str) -> None:
    stripped = api_key.strip()
    for kind in (JELLYFIN, EMBY):
        if stripped and set(stripped) <= VISIBLE_ASCII - {'"', "\\"}:
            assert check_api_key(api_key, kind) == stripped
        else:
            with pytest.raises(ValueError, match="the %s API key is empty or contains characters" % kind.label):
                check_api_key(api_key, kind)


@pytest.mark.parametrize(
    "value, problem",
    [
        ("a\r\nb", "must be one line"),
        ("\u20ac\n", "must be one line"),  # the line break comes first, whatever else is wrong
        ("a\0b", "must be one line"),
        ("\u20ac", "must use only Latin-1 characters (HTTP header)"),
        ("\x01\u20ac", "must use only Latin-1 characters (HTTP header)"),
        ("a\x01b", "must not contain control characters (HTTP header)"),
        ("a\x7fb", "must not contain control characters (HTTP header)"),
    ],
)
def test_a_webhook_header_value_that_does_not_fit_says_why(value: str, problem: str) -> None:
    spec = {"type": "webhook", "url": "https://h/x", "headers": {"X-Key": value}}
    assert validate_target_spec(spec) == ["headers.X-Key: " + problem]


@pytest.mark.parametrize("value", ["plain", "a\tb", "caf\xe9", " padded "])
def test_a_webhook_header_value_that_fits_is_taken(value: str) -> None:
    assert validate_target_spec({"type": "webhook", "url": "https://h/x", "headers": {"X-Key": value}}) == []
