"""The User, Player and Session of each /status/sessions item, without decoding the rest (issue 17).

A real answer holds about 1.7 KB a session, of which the rule reads about 0.4 KB: each item's User,
Player and Session. The rest (the item's own metadata, Media -> Part -> Stream, TranscodeSession) is
most of the bytes, and `json.loads` builds and frees all of it on every poll: at 1,000 sessions that
was most of the daemon's CPU. `skim_spans` finds the text of those three keys in each item with C loops
over the whole answer (split, translate, replace, find), and `span_parts` decodes one such text with
json's C scanner; the caller can keep what a text gave and skip it next poll when it is unchanged.

It answers only when its reading provably equals what `json.loads` gives for the three keys of every
item, for any answer without a repeated name in one object (RFC 8259 leaves those unpredictable);
otherwise None, and the caller decodes the whole answer as before:
- the text holds no backslash, so every `"` opens or closes a string and `"Player"` is always a whole
  string; and no byte \\x01, which JSON never allows and which marks each `"Player"` below;
- the skeleton of the answer (its brackets, with every string removed and every `"Player"` a marker)
  shows no bracket inside a string (so every bracket in the text is structure) and, once every
  container without a marker is taken out, is exactly `{{[` + `{P}` per item + `]}}`: each `"Player"`
  sits directly in an item of its own, in one array;
- the start is read exactly: `{"MediaContainer": {`, its fields, then `"Metadata": [`;
- an item's span runs from the last `"User"` before its `"Player"` to the second `}` after it (Plex
  sends User, Player, Session in that order, each a flat object: ../shared/api/README.md). The
  span holds no other `"Player"`; `span_parts` takes it only when `{` + span + `}` is one object
  whose keys are exactly User, Player and Session. Its brackets being structure, the span is then
  three pairs next to each other in the text at the level of the `"Player"`: keys of that item.
What this does not check is the syntax of what it skips (a broken number inside Media, say, or
between the Metadata array and the end): `json.loads` refuses such an answer, the skim reads it.
"""
from __future__ import annotations

import re
from itertools import accumulate
from json import JSONDecoder
from typing import Any, List, Optional, Tuple

_PLAYER = '"Player"'
_MARK = "\x01"
# the skeleton keeps quotes, brackets and the marker; every other byte goes
_DROP = bytes(b for b in range(256) if b not in b'"{}[]\x01')
_WS = "[ \t\n\r]*"
_COMMA = re.compile(_WS + "," + _WS)
_HEAD = re.compile(_WS + r"\{" + _WS + '"MediaContainer"' + _WS + ":" + _WS + r"\{" + _WS)
_KEY = re.compile('"([^"]*)"' + _WS + ":" + _WS)  # a key, in a text without backslashes
_ARRAY_START = re.compile(r"\[" + _WS)
_scan = JSONDecoder().scan_once

Item = Tuple[Any, Any, Any]  # (Player, Session, User), each as json.loads gives it


def _reduced(skeleton: bytes) -> bytes:
    """The skeleton with every container that holds no marker taken out, innermost first."""
    while True:
        shorter = skeleton.replace(b"{}", b"").replace(b"[]", b"")
        if len(shorter) == len(skeleton):
            return shorter
        skeleton = shorter


def _metadata_start(text: str) -> Optional[int]:
    """Where the Metadata array's first element starts, read exactly; None if the start differs."""
    head = _HEAD.match(text)
    if head is None:
        return None
    pos = head.end()
    while True:
        key = _KEY.match(text, pos)
        if key is None:
            return None
        if key.group(1) == "Metadata":
            start = _ARRAY_START.match(text, key.end())
            return None if start is None else start.end()
        try:
            _value, pos = _scan(text, key.end())
        except (StopIteration, ValueError, RecursionError):
            return None
        comma = _COMMA.match(text, pos)
        if comma is None:
            return None
        pos = comma.end()


def skim_spans(text: str) -> Optional[List[str]]:
    """The span of each item with a Player, in order; None when the reading is not provable."""
    if "\\" in text or _MARK in text:
        return None
    pieces = text.split(_PLAYER)
    items = len(pieces) - 1
    if items == 0 or _metadata_start(text) is None or not text.rstrip(" \t\n\r").endswith("}"):
        return None
    skeleton = _MARK.join(pieces).encode("utf-8").translate(None, _DROP).replace(b'""', b"")
    if b'"' in skeleton or _reduced(skeleton) != b"{{[" + b"{\x01}" * items + b"]}}":
        return None
    spans: List[str] = []
    start = 0  # where the next span may begin: after the previous one
    find, rfind = text.find, text.rfind
    for after in accumulate(len(piece) + len(_PLAYER) for piece in pieces[:-1]):
        anchor = after - len(_PLAYER)
        user = rfind('"User"', start, anchor)
        player_end = find("}", after)
        session_end = find("}", player_end + 1) if player_end >= 0 else -1
        if user < 0 or session_end < 0:
            return None  # no User before it, after the previous span (so no span holds two Players)
        spans.append(text[user:session_end + 1])
        start = session_end + 1
    return spans


def span_parts(span: str) -> Optional[Item]:
    """(Player, Session, User) of one span from skim_spans, or None when it is not exactly those
    three keys (the answer must then be read the general way)."""
    wrapped = "{" + span + "}"
    try:
        parts, end = _scan(wrapped, 0)
    except (StopIteration, ValueError, RecursionError):  # not one JSON value there
        return None
    if end != len(wrapped) or len(parts) != 3 or "Player" not in parts or "Session" not in parts or "User" not in parts:
        return None
    return parts["Player"], parts["Session"], parts["User"]
