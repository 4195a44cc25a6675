"""The Plex parser's direct reading of the usual types gives what the general reading gives."""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.media.plex.sessions import parse_any_item, parse_item

ANY = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 10**6), st.floats(allow_nan=True),
    st.sampled_from(["", " LAN ", "lan", "wan", "playing", "Paused ", "127.0.0.1", "::ffff:127.0.0.1",
                     "::FFFF:10.0.0.1", "1", "0", "true", "4000", " 203.0.113.9 "]),
    st.text(max_size=8), st.lists(st.integers(), max_size=2),
)


def fields(keys):
    return st.fixed_dictionaries({}, optional={key: ANY for key in keys})


def wrapped(objects):
    # the objects as Plex sends them (a dict), as a one-element list (XML converters), or odd
    return st.one_of(objects, objects.map(lambda d: [d]), ANY)


ITEMS = st.fixed_dictionaries({}, optional={
    "Player": wrapped(fields(["state", "local", "relayed", "remotePublicAddress", "title", "product", "address"])),
    "Session": wrapped(fields(["location", "bandwidth", "id"])),
    "User": wrapped(fields(["title", "id"])),
    "Media": st.one_of(ANY, st.lists(st.one_of(fields(["bitrate", "selected"]), ANY), max_size=3)),
})


@settings(max_examples=1500, deadline=None)
@given(st.one_of(ITEMS, ANY))
def test_the_direct_reading_equals_the_general_one(item) -> None:
    if not isinstance(item, dict):
        assert parse_item(item, 8000) is None
        return
    assert parse_item(item, 8000) == parse_any_item(item, 8000)


@settings(max_examples=300, deadline=None)
@given(
    state=st.sampled_from(["playing", "paused", " Buffering"]), location=st.sampled_from(["lan", "wan", "", " LAN"]),
    local=st.booleans(), relayed=st.one_of(st.none(), st.booleans()),
    public=st.one_of(st.none(), st.sampled_from(["127.0.0.1", "::ffff:127.0.0.1", "198.51.100.2"])),
    bandwidth=st.integers(-10, 10**6), title=st.text(min_size=1, max_size=5), user=st.one_of(st.none(), st.text(max_size=5)),
)
def test_usual_items_take_the_direct_reading(state, location, local, relayed, public, bandwidth, title, user) -> None:
    player = {"state": state, "local": local, "title": title, "address": "::ffff:10.0.0.%d" % (bandwidth % 250)}
    if relayed is not None:
        player["relayed"] = relayed
    if public is not None:
        player["remotePublicAddress"] = public
    item = {"Player": player, "Session": {"location": location, "bandwidth": bandwidth}, "User": {"title": user}}
    assert parse_item(item, 8000) == parse_any_item(item, 8000)
