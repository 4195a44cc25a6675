"""Which text can go into an HTTP header value: one rule for every secret and value we send in one.

RFC 9110 (section 5.5) defines a field value as visible characters (VCHAR, 0x21-0x7E) and obs-text
(0x80-0xFF), with spaces and horizontal tabs between them, and never CR, LF, NUL or any other control
character (0x00-0x1F, 0x7F): a CR or LF would end the header and start another one (header
injection), a NUL or control character is refused or mangled by servers and proxies. The stdlib's
http.client (under urllib3, so under HttpClient and the notifiers) refuses only a CR or LF that is not
a folded line, sends NUL and the other control characters as they are, and encodes the value as
Latin-1, so a character above 0xFF cannot be sent at all. Hence, by default, free text: Latin-1
without control characters except the tab (what a webhook's own header value may hold).

A token (Plex's X-Plex-Token, an API key, a Bearer token, Transmission's session id, the status
token) is stricter: printable ASCII without spaces, so that it survives every server, proxy and
config file unchanged and is never cut at a space. `refuse` names further characters, for a value
that also goes inside a quoted parameter (Jellyfin's `Authorization: MediaBrowser Token="..."`
cannot hold a `"` or a backslash).
"""
from __future__ import annotations

_VISIBLE_ASCII = frozenset(map(chr, range(0x21, 0x7F)))  # VCHAR: printable ASCII without the space
_FREE_TEXT = _VISIBLE_ASCII | {" ", "\t"} | frozenset(map(chr, range(0x80, 0x100)))  # + SP, HTAB, obs-text


def unfit_for_header(text: str, *, token: bool = False, refuse: str = "") -> str:
    """The characters of `text` that cannot go into an HTTP header value, in order ('' when it all can).

    token=False: Latin-1 without control characters (the tab aside); token=True: printable ASCII
    without spaces. Any character in `refuse` is unfit too. Leading and trailing spaces are allowed
    (a server strips them); callers strip what they send when that matters.
    """
    allowed = _VISIBLE_ASCII if token else _FREE_TEXT
    return "".join(ch for ch in text if ch not in allowed or ch in refuse)
