"""The client of a running daemon's status server, for the `plex-helper override` command (an override
of the state or a temporary limit) and `--health`."""
from __future__ import annotations

import json
from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from urllib3 import exceptions as u3

from adapters.transport.http import describe_transport_error, make_pool, printable_url
from domain.ports import UserFacingError

_JSON = "application/json"


class StatusClientError(UserFacingError):
    """A request to the daemon failed; `str()` is a sentence for the user."""

    def __init__(self, message: str, status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class StatusClient:
    """Talks to a running daemon's status server (for `plex-helper override ...`)."""

    def __init__(self, url: str, token: str = "", timeout_sec: float = 5.0) -> None:
        parts = urlsplit(url.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise StatusClientError("the status URL must look like http://127.0.0.1:9911, not %r" % url)
        self.url = printable_url(url)  # never show credentials in messages
        self._base = url.strip().rstrip("/")
        self._token = token or ""
        self._pool = make_pool(timeout_sec)

    def health(self) -> Dict[str, Any]:
        """The daemon's health document (also when it reports itself unhealthy with 503)."""
        return self._request("GET", "/health", ok=(200, 503))

    def set_override(self, state: str, minutes: float) -> Dict[str, Any]:
        return self._request("POST", "/override", {"state": state, "minutes": minutes})

    def set_temporary_limit(self, direction: str, kib: "int | str", minutes: float, label: str = "") -> Dict[str, Any]:
        """Hold `direction`'s budget at `kib` (KiB/s, or text with a unit such as "1 MB/s")."""
        return self._request("POST", "/override", {"direction": direction, "kib": kib, "minutes": minutes, "label": label})

    def clear_override(self, direction: Optional[str] = None) -> Dict[str, Any]:
        """The override and every temporary limit; with `direction`, that temporary limit only."""
        return self._request("DELETE", "/override" if direction is None else "/override?direction=" + direction)

    def _request(self, method: str, path: str, payload: Any = None, ok: Tuple[int, ...] = (200,)) -> Dict[str, Any]:
        headers = {"Accept": _JSON}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode("utf-8")  # bytes: sent with a Content-Length, never chunked
            headers["Content-Type"] = _JSON
        if self._token:
            headers["Authorization"] = "Bearer " + self._token
        try:
            response = self._pool.request(method, self._base + path, body=body, headers=headers, redirect=False)
        except u3.HTTPError as err:
            raise StatusClientError(
                "plex-helper is not reachable at %s (%s); is the daemon running with its status server on?"
                % (self.url, describe_transport_error(err))
            ) from None
        status = response.status
        try:
            data = json.loads(response.data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            data = None
        if status == 401:
            if self._token:
                raise StatusClientError("plex-helper at %s rejected the token" % self.url, status)
            raise StatusClientError("plex-helper at %s requires a token" % self.url, status)
        if not isinstance(data, dict):
            raise StatusClientError(
                "%s answered %d with something that is not plex-helper's JSON; is that the right address?"
                % (self.url, status), status,
            )
        if status in ok:
            return data
        message = data.get("error") or response.reason or "no reason given"
        raise StatusClientError("plex-helper answered %d: %s" % (status, message), status)

    def close(self) -> None:
        self._pool.clear()


__all__ = ["StatusClient", "StatusClientError"]
