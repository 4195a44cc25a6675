"""The UploadLimitControl and DownloadLimitControl methods of a client whose limits are reached
through `limit_control(direction)`: one implementation for every such client; and the one check
of the Usenet clients, which have a download limit only."""
from __future__ import annotations

from typing import Any

from domain.limit_plan import Direction
from domain.policies import SpeedLimit


class LimitMethods:
    """Mixed into a client adapter that has `limit_control(direction) -> LimitControl`."""

    def limit_control(self, direction: Direction) -> Any:  # pragma: no cover - the adapter's own
        raise NotImplementedError

    def read_upload_limit(self) -> SpeedLimit:
        return self.limit_control(Direction.UPLOAD).read_limit().limit

    def write_upload_limit(self, limit: SpeedLimit) -> None:
        self.limit_control(Direction.UPLOAD).write_limit(limit)

    def read_download_limit(self) -> SpeedLimit:
        return self.limit_control(Direction.DOWNLOAD).read_limit().limit

    def write_download_limit(self, limit: SpeedLimit) -> None:
        self.limit_control(Direction.DOWNLOAD).write_limit(limit)


def download_only(client: str, direction: Direction) -> None:
    """A Usenet client (SABnzbd, NZBGet) has no upload limit: ValueError for any other direction."""
    if direction is not Direction.DOWNLOAD:
        raise ValueError("%s has no %s limit: it only downloads" % (client, direction.value))
