"""qBittorrent's global upload and download limits and transfer rates through its Web API v2 (4.1 to 5.2).

One pool and one session for the adapter's life: qBittorrent bans an IP after a few failed logins
and newer versions evict old sessions, so we log in once, keep every cookie it sets, and log in
again only when a request answers 403 (then retry that request once).

This module reads and writes the limits; the session (login, cookies, retries) is
adapters/clients/qbittorrent/session.py, what an unexpected answer means is adapters/clients/qbittorrent/answers.py,
and the names tests and callers use from those are re-exported here.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Callable, Optional

from adapters.clients.qbittorrent.answers import shape_of
from adapters.clients.qbittorrent.limit import QBittorrentLimit, parse_limit_body
from adapters.clients.qbittorrent.session import AUTH_API_KEY, AUTH_BYPASS, AUTH_PASSWORD, MAX_ANSWER_BYTES, QBittorrentSession
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, DownloadClientError


@dataclass(frozen=True)
class QBittorrentInfo:
    """What `--check` shows: qBittorrent's version, its Web API version and how we got in."""

    version: str
    webapi_version: str
    auth: str


# libtorrent keeps a limit in a 32-bit int of bytes/s: a larger value would wrap or mean unlimited
MAX_LIMIT_BYTES = 2**31 - 1


class QBittorrentClient:
    """Reads and sets qBittorrent's global upload and download limits (bytes/s, 0 = unlimited)."""

    def __init__(
        self,
        base_url: str,
        username: str = "",
        password: str = "",
        api_key: str = "",
        timeout_sec: float = 10.0,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        login_retry_sec: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._session = QBittorrentSession(
            base_url, username, password, api_key, timeout_sec, verify_tls, ca_file, login_retry_sec, clock
        )
        self._url = self._session.url

    # ---------------------------------------------------------------- limits in bytes/s

    def current_upload_limit(self) -> int:
        return parse_limit_body(self._session.request("GET", "transfer/uploadLimit").body, "upload", self._url)

    def set_upload_limit(self, bytes_per_sec: int) -> None:
        bytes_per_sec = self._checked_limit(bytes_per_sec)
        self._session.request("POST", "transfer/setUploadLimit", {"limit": str(bytes_per_sec)})

    def current_download_limit(self) -> int:
        return parse_limit_body(self._session.request("GET", "transfer/downloadLimit").body, "download", self._url)

    def set_download_limit(self, bytes_per_sec: int) -> None:
        bytes_per_sec = self._checked_limit(bytes_per_sec)
        self._session.request("POST", "transfer/setDownloadLimit", {"limit": str(bytes_per_sec)})

    def limit_control(self, direction: Direction) -> QBittorrentLimit:
        """The LimitControl of one direction (qBittorrent has both)."""
        return QBittorrentLimit(self, direction)

    @staticmethod
    def _checked_limit(bytes_per_sec: int) -> int:
        # bool is an int, and a negative or garbage limit would silently become "unlimited"
        if isinstance(bytes_per_sec, bool) or not isinstance(bytes_per_sec, int) or not 0 <= bytes_per_sec <= MAX_LIMIT_BYTES:
            raise DownloadClientError(
                FailureKind.MALFORMED,
                "refusing to set a limit of %r: not a whole number from 0 to %d" % (bytes_per_sec, MAX_LIMIT_BYTES),
            )
        if 0 < bytes_per_sec < 1024:
            return 1024  # stored in whole KiB anyway, and 4.1 turns < 1 KiB into "unlimited"
        return bytes_per_sec

    # ---------------------------------------------------------------- alternative speed mode

    def alternative_mode(self) -> bool:
        body = self._session.request("GET", "transfer/speedLimitsMode").body.strip()
        if body not in ("0", "1"):
            raise DownloadClientError(
                FailureKind.MALFORMED,
                "qBittorrent returned something that is not a speed limits mode (%s) at %s" % (shape_of(body), self._url),
            )
        return body == "1"

    def set_alternative_mode(self, on: bool) -> None:
        # toggle works on every version (setSpeedLimitsMode needs 4.5); read first so it is idempotent
        if self.alternative_mode() != on:
            self._session.request("POST", "transfer/toggleSpeedLimitsMode", {})

    def alternative_upload_limit(self) -> int:
        body = self._session.request("GET", "app/preferences").body
        try:
            value = json.loads(body)["alt_up_limit"]
        except (ValueError, KeyError, TypeError):
            value = None
        if isinstance(value, bool) or not isinstance(value, int):
            raise DownloadClientError(
                FailureKind.MALFORMED,
                "qBittorrent returned preferences without an alternative upload limit at %s" % self._url,
            )
        return max(value, 0)

    def set_alternative_upload_limit(self, bytes_per_sec: int) -> None:
        bytes_per_sec = self._checked_limit(bytes_per_sec)
        self._session.request("POST", "app/setPreferences", {"json": json.dumps({"alt_up_limit": bytes_per_sec})})

    # ---------------------------------------------------------------- the ports, in the domain's type

    def read_upload_limit(self) -> SpeedLimit:
        return SpeedLimit.from_bytes(self.current_upload_limit())

    def write_upload_limit(self, limit: SpeedLimit) -> None:
        self.set_upload_limit(limit.bytes_per_sec)

    def read_download_limit(self) -> SpeedLimit:
        return SpeedLimit.from_bytes(self.current_download_limit())

    def write_download_limit(self, limit: SpeedLimit) -> None:
        self.set_download_limit(limit.bytes_per_sec)

    def read_alternative_upload_limit(self) -> SpeedLimit:
        return SpeedLimit.from_bytes(self.alternative_upload_limit())

    def write_alternative_upload_limit(self, limit: SpeedLimit) -> None:
        self.set_alternative_upload_limit(limit.bytes_per_sec)

    def current_upload_rate(self) -> SpeedLimit:
        """What qBittorrent uploads right now (transfer/info up_info_speed, bytes/s), for `rebalance`."""
        return self._transfer_rate("up_info_speed", "an upload rate")

    def current_download_rate(self) -> SpeedLimit:
        """What qBittorrent downloads right now (transfer/info dl_info_speed, bytes/s), for the line meter."""
        return self._transfer_rate("dl_info_speed", "a download rate")

    def _transfer_rate(self, key: str, what: str) -> SpeedLimit:
        body = self._session.request("GET", "transfer/info").body
        try:
            value = json.loads(body).get(key)
        except (ValueError, AttributeError, RecursionError):
            value = None
        if isinstance(value, bool) or not isinstance(value, int):
            raise DownloadClientError(
                FailureKind.MALFORMED, "qBittorrent returned transfer info without %s at %s" % (what, self._url)
            )
        return SpeedLimit.from_bytes(max(value, 0))

    def describe(self) -> QBittorrentInfo:
        version = self._session.request("GET", "app/version").body.strip()[:40]
        webapi = self._session.request("GET", "app/webapiVersion").body.strip()[:40]
        return QBittorrentInfo(version=version, webapi_version=webapi, auth=self._session.auth_used())

    def close(self) -> None:
        """Close the pooled connections (the session stays valid on qBittorrent's side)."""
        self._session.close()


__all__ = [
    # this module's own
    "MAX_LIMIT_BYTES", "QBittorrentInfo", "QBittorrentClient",
    # re-exported: adapters/clients/qbittorrent/session.py
    "AUTH_API_KEY", "AUTH_BYPASS", "AUTH_PASSWORD", "MAX_ANSWER_BYTES",
]
