"""One direction of qBittorrent's global limit as a LimitControl, and the reading of its limit bodies.

qBittorrent answers `transfer/uploadLimit` and `transfer/downloadLimit` with the limit in bytes/s as
bare text (0 = unlimited) and takes `limit=<bytes>` on `transfer/setUploadLimit` and
`transfer/setDownloadLimit`. It keeps whole KiB, so what it answers is always a multiple of 1024 and
writing that answer back stores exactly the same value: the bytes as read are the native value.
"""
from __future__ import annotations

import re
from typing import Any, Protocol

from adapters.clients.qbittorrent.answers import shape_of
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, HeldLimit, DownloadClientError

_INT_BODY = re.compile(r"-?[0-9]{1,19}")


def parse_limit_body(body: str, what: str, url: str) -> int:
    """The bytes/s of a `transfer/uploadLimit` or `transfer/downloadLimit` answer (`what`: "upload"
    or "download"). A negative value has meant "unlimited" in some versions: it reads as 0."""
    text = body.strip()
    if not _INT_BODY.fullmatch(text):
        raise DownloadClientError(
            FailureKind.MALFORMED,
            "qBittorrent returned something that is not a%s %s limit (%s) at %s"
            % ("n" if what[:1] in "aeiou" else "", what, shape_of(text), url),
        )
    return max(int(text), 0)


class _LimitBytes(Protocol):
    """What the control needs of the qBittorrent adapter (adapters/clients/qbittorrent/client.py)."""

    def current_upload_limit(self) -> int: ...
    def set_upload_limit(self, bytes_per_sec: int) -> None: ...
    def current_download_limit(self) -> int: ...
    def set_download_limit(self, bytes_per_sec: int) -> None: ...


class QBittorrentLimit:
    """LimitControl for one direction; native = the bytes/s qBittorrent answered (an int)."""

    def __init__(self, client: _LimitBytes, direction: Direction) -> None:
        self.direction = direction
        self._client = client

    def __repr__(self) -> str:
        return "QBittorrentLimit(%s)" % self.direction.value

    def read_limit(self) -> HeldLimit:
        held = self._read()
        return HeldLimit(SpeedLimit.from_bytes(held), held)

    def write_limit(self, limit: SpeedLimit) -> None:
        self._write(limit.bytes_per_sec)

    def restore_limit(self, native: Any) -> None:
        if isinstance(native, bool) or not isinstance(native, int):
            raise DownloadClientError(
                FailureKind.MALFORMED,
                "cannot restore qBittorrent's %s limit from %r: it is kept as whole bytes/s"
                % (self.direction.value, type(native).__name__),
            )
        self._write(native)  # the adapter refuses what is out of qBittorrent's range

    def _read(self) -> int:
        if self.direction is Direction.UPLOAD:
            return self._client.current_upload_limit()
        return self._client.current_download_limit()

    def _write(self, bytes_per_sec: int) -> None:
        if self.direction is Direction.UPLOAD:
            self._client.set_upload_limit(bytes_per_sec)
        else:
            self._client.set_download_limit(bytes_per_sec)
