"""CookieJar (adapters/clients/qbittorrent/cookie_jar.py): the cookies qBittorrent's session keeps."""
from __future__ import annotations

from adapters.clients.qbittorrent.cookie_jar import CookieJar


def test_logout_cookie_deletion_is_honoured() -> None:
    jar = CookieJar()
    jar.update(["QBT_SID_8080=abc; HttpOnly; path=/", "other=1"])
    assert jar.header() == "QBT_SID_8080=abc; other=1"
    jar.update(["QBT_SID_8080=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/"])
    assert jar.header() == "other=1"
    jar.update(["other=2; Max-Age=0"])
    assert jar.header() is None
