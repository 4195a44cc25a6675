"""The skim of /status/sessions (adapters/media/plex/skim.py) reads what json.loads reads, or declines.

The promise under test: for any JSON text (without duplicate names in an object, which RFC 8259
leaves unpredictable), the skim declines or reads exactly the (Player, Session, User) that
`json.loads` gives for every item with a Player; and a SessionReader, fresh or remembering earlier
answers, always equals the general reading `parse_sessions(json.loads(body))`, failures included.
Plex's own answers take the skim.
"""
from __future__ import annotations

import json
import os
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.media.plex.sessions import SessionPayloadError, SessionReader, parse_sessions
from adapters.media.plex.skim import skim_spans, span_parts
from tests.support.plex_payloads import container, lan_track, relayed_episode, remote_movie

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
from bench.payloads import realistic_sessions  # noqa: E402

SHAPES = [(",", ":"), (", ", ": "), (" , ", " : ")]


def general(body: bytes):
    """parse_sessions(json.loads(body)), or the class of what it raised."""
    try:
        return parse_sessions(json.loads(body))
    except (ValueError, RecursionError) as exc:  # SessionPayloadError is a ValueError too
        return type(exc) if isinstance(exc, SessionPayloadError) else ValueError


def sessions_from_body(body: bytes):
    return SessionReader()(body)


def skim_items(text: str):
    """(Player, Session, User) of every item, as the skim reads them, or None where it declines."""
    spans = skim_spans(text)
    if spans is None:
        return None
    parts = [span_parts(span) for span in spans]
    return None if None in parts else parts


def fast(body: bytes, reader=None):
    try:
        return (reader or SessionReader())(body)
    except (ValueError, RecursionError) as exc:
        return type(exc) if isinstance(exc, SessionPayloadError) else ValueError


def expected_parts(document):
    """What json.loads gives for the three keys of every item with a Player."""
    items = document["MediaContainer"]["Metadata"]
    return [(item["Player"], item["Session"], item.get("User")) for item in items
            if isinstance(item, dict) and "Player" in item]


def dumps(document, shape=(",", ":"), indent=None, ascii_only=False) -> str:
    return json.dumps(document, separators=shape, indent=indent, ensure_ascii=ascii_only)


# ------------------------------------------------------------------------------ Plex's own answers


@pytest.mark.parametrize("count", [1, 10, 100])
@pytest.mark.parametrize("shape", SHAPES)
def test_realistic_answers_take_the_skim_and_read_the_same(count, shape) -> None:
    document = {"MediaContainer": {"size": count, "Metadata": realistic_sessions(count)}}
    for indent in (None, 2):
        text = dumps(document, shape, indent)
        assert skim_items(text) == expected_parts(document)
        assert sessions_from_body(text.encode()) == parse_sessions(document)


def test_the_documented_example_takes_the_skim() -> None:
    path = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "shared", "api", "README.md")
    if not os.path.exists(path):
        pytest.skip("../shared/api/README.md is not beside the checkout")
    with open(path) as f:
        readme = f.read()
    start = readme.index('{"MediaContainer":{"size":2')
    text = readme[start:readme.index("\n```", start)]
    document = json.loads(text)
    assert skim_items(text) == expected_parts(document)
    assert len(sessions_from_body(text.encode())) == 2


def test_the_test_servers_answers_take_the_skim() -> None:
    document = container([remote_movie(), lan_track(), relayed_episode()])
    text = dumps(document)
    assert skim_items(text) is not None
    assert sessions_from_body(text.encode()) == parse_sessions(document)


# ------------------------------------------------------------------------------ answers it must decline


def one_item(**overrides):
    item = {"title": "Heat", "Media": [{"id": 1, "Part": [{"id": 2, "Stream": [{"id": 3}, {"id": 4}]}]}],
            "User": {"title": "friend"},
            "Player": {"state": "playing", "local": False, "title": "TV", "address": "203.0.113.4"},
            "Session": {"bandwidth": 8000, "location": "wan"}}
    item.update(overrides)
    return item


def doc(*items, **container_fields):
    return {"MediaContainer": dict(container_fields or {"size": len(items)}, Metadata=list(items))}


DECLINED = {
    "a bracket in a string": doc(one_item(title="Movie [Director's Cut]")),
    "a fake item boundary in a title": {"MediaContainer": {"size": 1, "Metadata": [
        {"User": {"title": "friend"}, "title": "}, {", "Player": {"state": "playing"}, "Session": {}}]}},
    "a backslash": doc(one_item(title='The "Quoted" One')),
    "a Player inside Media": doc(one_item(Media=[{"Player": {"state": "playing"}}])),
    "the word Player as a value": doc(one_item(title="Player")),
    "no User": doc({k: v for k, v in one_item().items() if k != "User"}),
    "no Session": doc({k: v for k, v in one_item().items() if k != "Session"}),
    "Session before Player": doc({"User": {"title": "a"}, "Session": {"location": "lan"}, "Player": {"state": "playing"}}),
    "User after Player": doc({"Player": {"state": "playing"}, "Session": {}, "User": {"title": "a"}}),
    "Metadata as one object": {"MediaContainer": {"size": 1, "Metadata": one_item()}},
    "MediaContainer not first": {"other": 1, "MediaContainer": {"Metadata": [one_item()]}},
    "an array around the item": doc([one_item()]),
    "a Player in the container's fields": {"MediaContainer": {"x": {"Player": {}}, "Metadata": [one_item()]}},
    "nothing playing": doc(),
    "a key named User inside User": doc(one_item(User={"User": None, "title": "friend"})),
}


@pytest.mark.parametrize("name", sorted(DECLINED))
def test_it_declines_what_it_cannot_prove_and_the_reading_stays_the_same(name) -> None:
    document = DECLINED[name]
    for shape in SHAPES:
        for ascii_only in (False, True):
            text = dumps(document, shape, ascii_only=ascii_only)
            assert skim_items(text) is None
            assert fast(text.encode()) == general(text.encode())


@pytest.mark.parametrize("damage", [
    lambda good: good[:-3], lambda good: good[: len(good) // 2], lambda good: good + "x",
    lambda good: good + "}", lambda good: " " + good + "\n", lambda good: good.replace("{", "[", 1),
    lambda good: good.replace('"Player":', '"Player":\x01', 1), lambda good: "<MediaContainer/>",
    lambda good: "", lambda good: "[]", lambda good: "null",
])
def test_a_body_that_is_not_the_envelope_fails_as_before(damage) -> None:
    body = damage(dumps(doc(one_item()))).encode()
    assert fast(body) == general(body)


def test_what_it_does_not_check_is_the_syntax_of_what_it_skips() -> None:
    # documented: json.loads refuses a broken number inside Media; the skim reads the sessions
    text = dumps(doc(one_item())).replace('"id":1,', '"id":1-,', 1)
    assert general(text.encode()) is ValueError
    assert len(sessions_from_body(text.encode())) == 1


def test_a_utf8_bom_and_other_encodings_go_the_general_way() -> None:
    text = dumps(doc(one_item()))
    for body in (b"\xef\xbb\xbf" + text.encode(), text.encode("utf-16"), b"\xff" + text.encode()):
        assert fast(body) == general(body)


# ------------------------------------------------------------------------------ properties

# strings that look like structure, keys and escapes to a naive reader
NASTY = st.one_of(
    st.text(max_size=6),
    st.sampled_from(['"Player":', '}, {"User": {', "[", "]", "{", "}", "\\", '"', "Session", '"Session"',
                     "User", '"User":{}', "\x01", "\u00e9t\u00e9", "\u6620\u753b", "\U0001f3ac", ", ", ":"]),
)
SCALAR = st.one_of(st.none(), st.booleans(), st.integers(-10, 10**9), st.floats(allow_nan=False, allow_infinity=False), NASTY)
VALUE = st.recursive(SCALAR, lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(NASTY, inner, max_size=3)),
                     max_leaves=8)
PLAYER = st.fixed_dictionaries({"state": st.sampled_from(["playing", "paused"]), "local": st.booleans()},
                               optional={"title": NASTY, "address": NASTY, "relayed": st.booleans(), "x": VALUE})
SESSION = st.fixed_dictionaries({}, optional={"location": st.sampled_from(["lan", "wan", ""]),
                                              "bandwidth": st.integers(0, 10**5), "x": VALUE})
USER = st.fixed_dictionaries({}, optional={"title": NASTY, "x": VALUE})
SAFE = st.text(alphabet=st.characters(blacklist_characters='"\\{}[]', blacklist_categories=("Cs", "Cc")), max_size=8)


@st.composite
def plex_like(draw):
    """Documents of Plex's shape with arbitrary extras, parts left out, moved or nested."""
    items = []
    for _ in range(draw(st.integers(0, 4))):
        item = {}
        for key in draw(st.lists(NASTY, max_size=3, unique=True)):
            item[key] = draw(st.one_of(SCALAR, VALUE))
        if draw(st.booleans()):
            item["Media"] = [{"Part": [{"file": draw(NASTY), "Stream": [{"title": draw(NASTY)}]}]}]
        parts = [("User", USER), ("Player", PLAYER), ("Session", SESSION)]
        if draw(st.integers(0, 9)) == 0:
            parts = draw(st.permutations(parts))
        for key, strategy in parts:
            where = draw(st.integers(0, 12))
            if where == 0:
                continue  # left out
            value = draw(strategy)
            if where == 1 and "Media" in item:
                item["Media"][0][key] = value  # nested where it does not count
            else:
                item[key] = value
        if draw(st.booleans()):
            item["TranscodeSession"] = {"key": draw(NASTY), "progress": 1.5}
        items.append(item if draw(st.integers(0, 15)) else draw(SCALAR))
    fields = {"size": len(items)}
    if draw(st.integers(0, 5)) == 0:
        fields["extra"] = draw(VALUE)
    return {"MediaContainer": dict(fields, Metadata=items)}


@settings(max_examples=700, deadline=None)
@given(plex_like(), st.sampled_from(SHAPES), st.sampled_from([None, 1]), st.booleans())
def test_the_skim_reads_what_json_loads_reads_or_declines(document, shape, indent, ascii_only) -> None:
    text = dumps(document, shape, indent, ascii_only)
    parts = skim_items(text)
    if parts is not None:
        assert parts == expected_parts(document)
    assert fast(text.encode()) == general(text.encode())


SAFE_VALUE = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(), SAFE),
                          lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(SAFE, inner, max_size=3)),
                          max_leaves=8)
SAFE_SCALAR = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), SAFE)
NOT_OURS = SAFE.filter(lambda key: key not in ("Player", "Session", "User", "Metadata", "MediaContainer"))
# flat, as Plex's User, Player and Session are, and none of the three names as a key of its own
# (a "User" inside User moves where an item's span starts: declined, DECLINED above)
SAFE_OBJECT = st.dictionaries(NOT_OURS, SAFE_SCALAR, max_size=4)


@st.composite
def clean_plex(draw):
    """Plex's shape as Plex sends it: extras around a flat User, Player and Session, in that order."""
    items = []
    for _ in range(draw(st.integers(1, 5))):
        item = {key: draw(SAFE_VALUE) for key in draw(st.lists(NOT_OURS, max_size=4, unique=True))}
        item.update(User=draw(SAFE_OBJECT), Player=draw(SAFE_OBJECT), Session=draw(SAFE_OBJECT))
        for key in draw(st.lists(NOT_OURS, max_size=2, unique=True)):
            item.setdefault(key, draw(SAFE_VALUE))
        items.append(item)
    fields = {key: draw(st.one_of(st.integers(), SAFE)) for key in draw(st.lists(NOT_OURS, max_size=2, unique=True))}
    return {"MediaContainer": dict(fields, Metadata=items)}


MUTATIONS = ["none", "drop", "nest in Media", "nest in a list", "extra key between", "not flat", "a list",
             "null", "move to the end", "an item without Player keeps the others"]


@st.composite
def mutated_plex(draw):
    """Plex's shape with a few structural changes, strings kept plain: what the skim must see through."""
    document = draw(clean_plex())
    for item in document["MediaContainer"]["Metadata"]:
        mutation, key = draw(st.sampled_from(MUTATIONS)), draw(st.sampled_from(["User", "Player", "Session"]))
        value = item[key]
        if mutation == "drop":
            del item[key]
        elif mutation == "nest in Media":
            del item[key]
            item.setdefault("Media", [{}])
            if isinstance(item["Media"], list) and item["Media"] and isinstance(item["Media"][0], dict):
                item["Media"][0][key] = value
        elif mutation == "nest in a list":
            item[key] = [value]
        elif mutation == "extra key between":
            keys = list(item)
            at = keys.index(key)
            rebuilt = {k: item[k] for k in keys[:at]}
            rebuilt.update({"between": draw(SAFE_SCALAR), key: value}, **{k: item[k] for k in keys[at + 1:]})
            item.clear()
            item.update(rebuilt)
        elif mutation == "not flat":
            item[key] = dict(value, nested=draw(SAFE_OBJECT))
        elif mutation == "a list":
            item[key] = draw(st.lists(SAFE_SCALAR, max_size=2))
        elif mutation == "null":
            item[key] = None
        elif mutation == "move to the end":
            item[key] = item.pop(key)
        elif mutation == "an item without Player keeps the others":
            item.pop("Player")
    return document


@settings(max_examples=700, deadline=None)
@given(mutated_plex(), st.sampled_from(SHAPES), st.sampled_from([None, 1]))
def test_structural_changes_are_read_as_json_loads_reads_them_or_declined(document, shape, indent) -> None:
    text = dumps(document, shape, indent)
    parts = skim_items(text)
    if parts is not None:
        assert parts == expected_parts(document)
    assert fast(text.encode()) == general(text.encode())


@settings(max_examples=300, deadline=None)
@given(clean_plex(), st.sampled_from(SHAPES), st.sampled_from([None, 2]))
def test_plex_shaped_answers_without_brackets_or_escapes_in_strings_take_the_skim(document, shape, indent) -> None:
    text = dumps(document, shape, indent)
    assert skim_items(text) == expected_parts(document)


JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), NASTY),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(NASTY, st.sampled_from(["MediaContainer", "Metadata", "Player", "Session", "User"])),
                        inner, max_size=4)),
    max_leaves=25)


@settings(max_examples=700, deadline=None)
@given(JSON, st.sampled_from(SHAPES))
def test_arbitrary_json_gives_the_general_reading(document, shape) -> None:
    body = dumps(document, shape).encode()
    assert fast(body) == general(body)


@settings(max_examples=500, deadline=None)
@given(plex_like(), st.data())
def test_a_damaged_answer_fails_cleanly_or_is_read(document, data) -> None:
    text = dumps(document)
    at = data.draw(st.integers(0, len(text)))
    damaged = text[:at] + data.draw(st.sampled_from(["", "}", "]", "{", '"', ",", "x", "\\", "\x01", " "])) + text[at + 1:]
    result = fast(damaged.encode())  # never anything but a tuple or a ValueError
    if general(damaged.encode()) is not ValueError:
        assert result == general(damaged.encode())


# ------------------------------------------------------------------------------ remembering answers


def test_an_unchanged_item_gives_the_same_session_and_a_changed_one_is_read_again() -> None:
    reader = SessionReader()
    items = [one_item(), one_item(User={"title": "owner"}, Player={"state": "paused", "local": True, "title": "PC",
                                                                     "address": "10.0.0.2"})]
    first = reader(dumps(doc(*items)).encode())
    items[0]["viewOffset"] = 12345  # Plex moves the play position: outside the three keys
    items[1]["Player"]["state"] = "playing"
    second = reader(dumps(doc(*items)).encode())
    assert second[0] is first[0]
    assert second[1] != first[1] and second[1].state == "playing"
    assert second == parse_sessions(doc(*items))
    third = reader(dumps(doc(items[1], items[1], items[0])).encode())  # the same text twice, reordered
    assert third == parse_sessions(doc(items[1], items[1], items[0]))
    assert reader(dumps(doc()).encode()) == ()


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(plex_like(), clean_plex()), min_size=1, max_size=5))
def test_a_remembering_reader_reads_every_answer_as_the_general_reading(documents) -> None:
    reader = SessionReader()
    for document in documents:
        body = dumps(document).encode()
        assert fast(body, reader) == general(body)
