"""The cookies one HTTP server sets, kept and sent back with every later request.

For a session cookie that must survive a whole adapter's life (qBittorrent's SID, or QBT_SID_<port>
since 5.2): every cookie is kept, a cookie set empty or already expired is deleted (logout answers
`SID=; expires=<yesterday>`), and domain and path are ignored because there is only one server.
"""
from __future__ import annotations

import email.utils
import time
from typing import Dict, Iterable, Optional


class CookieJar:
    """name -> value of every cookie the server set; one server, so domain/path do not matter."""

    def __init__(self) -> None:
        self._cookies: Dict[str, str] = {}

    def update(self, set_cookie_headers: Iterable[str]) -> None:
        for header in set_cookie_headers:
            self._apply(header)

    def _apply(self, header: str) -> None:
        first, *attrs = header.split(";")
        name, sep, value = first.partition("=")
        name, value = name.strip(), value.strip()
        if not sep or not name:
            return
        if not value or any(self._is_deletion(a) for a in attrs):
            self._cookies.pop(name, None)  # logout answers `SID=; expires=<yesterday>`
        else:
            self._cookies[name] = value

    @staticmethod
    def _is_deletion(attr: str) -> bool:
        key, _, val = attr.partition("=")
        key, val = key.strip().lower(), val.strip()
        if key == "max-age":
            return val.lstrip("-").isdigit() and int(val) <= 0
        if key == "expires":
            try:
                return email.utils.parsedate_to_datetime(val).timestamp() <= time.time()
            except (TypeError, ValueError, IndexError, OverflowError):
                return False
        return False

    def header(self) -> Optional[str]:
        if not self._cookies:
            return None
        return "; ".join("%s=%s" % item for item in self._cookies.items())

    def clear(self) -> None:
        self._cookies.clear()
