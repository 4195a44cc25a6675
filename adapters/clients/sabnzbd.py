"""SABnzbd's global download speed limit through its HTTP API, for a download-only client.

What SABnzbd does with our requests, read in its source (details in tests/support/usenet_clients.md):
- `mode=config&name=speedlimit&value=V` (Downloader.limit_speed): V with a `%`, or whose size is
  above 0 and below 101 bytes/s, is a percentage of "Maximum line speed"; anything else is bytes/s,
  with K/M/G suffixes in powers of 1024 (misc.from_units). An empty V becomes "0"; "0" means no limit.
- `mode=queue` -> `queue.speedlimit_abs`: bytes/s as a string ("512000"; "512000.0" before 4.x),
  and "0" when there is no limit ("" before 5.0); the limit in SABnzbd's own terms (a percentage of
  the line speed, or bytes) is adapters/clients/sabnzbd_limit.py.
- A wrong API key: 3.x answers 200 `{"status": false, "error": "API Key Incorrect"}`, 4.x answers 403
  with the bare text `API Key Incorrect` (an empty 403 with its "API warnings" off).
- `mode=version` needs no key, so it is sent without one.

The key travels in the query string: it never reaches our messages (they print the URL without the
query), and a filter blanks it in urllib3's own DEBUG request lines.
"""
from __future__ import annotations

import json
import logging
import re
import threading
import time
from typing import Any, Callable, Dict, Optional
from urllib.parse import urlencode

from adapters.transport.http import HttpAnswer, HttpClient, HttpTransportError, printable_url
from adapters.clients.login_gate import LoginGate
from adapters.clients.limit_methods import download_only
from adapters.clients.sabnzbd_limit import (
    QueueSpeed, SabnzbdLimit, limit_from_queue, line_speed_from_config, queue_speed, to_sabnzbd_value,
)
from domain.limit_plan import Direction
from domain.policies import SpeedLimit
from domain.ports import FailureKind, DownloadClientError

log = logging.getLogger("plex_helper.sabnzbd")

AUTH_WORDS = "authenticated with the API key"
# the queue is asked for one slot only; everything else SABnzbd answers us is under 1 KB
MAX_ANSWER_BYTES = 256 * 1024
_QUEUE = {"mode": "queue", "start": "0", "limit": "1"}
_LINE_SPEED = {"mode": "get_config", "section": "misc", "keyword": "bandwidth_max"}
_KEY_IN_QUERY = re.compile(r"(apikey=)[^&\s\"']*", re.IGNORECASE)
_SHOWN_ERROR = 80  # how much of an error text from SABnzbd a message quotes


class _HideApiKeys(logging.Filter):
    """Blanks `apikey=...` in urllib3's request lines (logged at DEBUG with the whole query)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            text = record.getMessage()
        except Exception:  # noqa: BLE001 - a broken record is logging's business, not ours
            return True
        if "apikey=" in text.lower():
            record.msg, record.args = _KEY_IN_QUERY.sub(r"\1***", text), None
        return True


_FILTER = _HideApiKeys()
for _name in ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_FILTER)


# ------------------------------------------------------------------------------------ the client


class SabnzbdClient:
    """SABnzbd's download limit as a SpeedLimit (KiB/s, 0 = unlimited). A ClientAdapter and a
    DownloadLimitControl; every failure is a DownloadClientError with a secret-free sentence."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        timeout_sec: float = 10.0,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        login_retry_sec: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._url = printable_url(base_url)
        self._api_key = api_key.strip()
        self._http = HttpClient(timeout_sec, verify_tls, ca_file, max_body_bytes=MAX_ANSWER_BYTES)
        # SABnzbd bans nobody, but every refused key is a WARNING in the user's SABnzbd log
        self._gate = LoginGate(login_retry_sec, clock)
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self._url

    def __repr__(self) -> str:
        return "SabnzbdClient(%r)" % self._url

    # ---------------------------------------------------------------- ports

    def describe(self) -> str:
        version = self._version()
        self._keyed(_QUEUE)  # mode=version takes no key: prove the key too
        return "SABnzbd %s at %s, %s" % (version, self._url, AUTH_WORDS)

    def read_download_limit(self) -> SpeedLimit:
        return limit_from_queue(self._keyed(_QUEUE), "SABnzbd at %s" % self._url)

    def write_download_limit(self, limit: SpeedLimit) -> None:
        self.set_speed_value(to_sabnzbd_value(limit))

    def limit_control(self, direction: Direction) -> SabnzbdLimit:
        """The LimitControl of the download limit (SABnzbd only downloads: ValueError for upload)."""
        download_only("SABnzbd", direction)
        return SabnzbdLimit(self)

    # ---------------------------------------------------------------- for SabnzbdLimit

    def queue_speed(self) -> QueueSpeed:
        return queue_speed(self._keyed(_QUEUE), "SABnzbd at %s" % self._url)

    def line_speed(self) -> int:
        """The "Maximum line speed" in bytes/s (0 = not set)."""
        return line_speed_from_config(self._keyed(_LINE_SPEED), "SABnzbd at %s" % self._url)

    def set_speed_value(self, value: str) -> None:
        """`mode=config&name=speedlimit&value=<value>`, in SABnzbd's own notation."""
        log.debug("setting SABnzbd's speed limit at %s to %s", self._url, value)
        payload = self._keyed({"mode": "config", "name": "speedlimit", "value": value})
        if not (isinstance(payload, dict) and payload.get("status") is True):
            raise DownloadClientError(
                FailureKind.MALFORMED, "SABnzbd at %s did not confirm the new speed limit" % self._url
            )

    def close(self) -> None:
        try:
            self._http.close()
        except Exception:  # noqa: BLE001 - closing must never fail the caller
            pass

    # ---------------------------------------------------------------- requests

    def _version(self) -> str:
        with self._lock:
            payload = self._interpret(self._get({"mode": "version", "output": "json"}), keyed=False)
        version = payload.get("version") if isinstance(payload, dict) else None
        if not isinstance(version, str) or not version.strip() or not version.strip().isprintable():
            raise DownloadClientError(
                FailureKind.MALFORMED, "SABnzbd at %s answered mode=version without a version" % self._url
            )
        return version.strip()[:40]

    def _keyed(self, params: Dict[str, str]) -> Any:
        with self._lock:
            held = self._gate.held_back()
            if held:
                raise DownloadClientError(FailureKind.REJECTED, "SABnzbd at %s: %s" % (self._url, held))
            query = dict(params, output="json")
            if self._api_key:
                query["apikey"] = self._api_key
            return self._interpret(self._get(query), keyed=True)

    def _get(self, query: Dict[str, str]) -> HttpAnswer:
        reason = ""
        try:
            return self._http.request("GET", "%s/api?%s" % (self._url, urlencode(query)))
        except HttpTransportError as exc:
            reason = exc.reason
        # raised here, outside the except: no chained exception that could hold the URL and its key
        raise DownloadClientError(FailureKind.UNREACHABLE, "SABnzbd not reachable at %s: %s" % (self._url, reason))

    def _interpret(self, answer: HttpAnswer, keyed: bool) -> Any:
        status = answer.status
        text = answer.body.decode("utf-8", errors="replace")
        if answer.truncated:
            raise self._malformed("an answer longer than %d bytes" % MAX_ANSWER_BYTES)
        if status >= 500:
            raise DownloadClientError(FailureKind.UNREACHABLE, "SABnzbd answered %d at %s" % (status, self._url))
        if status in (401, 403):
            raise self._refused(status, text)
        if status == 404:
            raise DownloadClientError(
                FailureKind.MALFORMED,
                "no SABnzbd API at %s/api (404); if SABnzbd runs under a path such as /sabnzbd, put it in "
                "the URL" % self._url,
            )
        if not 200 <= status < 300:
            raise self._malformed("HTTP status %d" % status)
        try:
            payload = json.loads(text)
        except ValueError:
            if _names_the_key(text):
                raise self._key_rejected(text) from None
            raise self._malformed(_shape_of(text)) from None
        if isinstance(payload, dict) and payload.get("status") is False:
            raise self._api_error(payload.get("error"))
        if keyed:
            self._gate.succeeded()
        return payload

    def _api_error(self, error: Any) -> DownloadClientError:
        text = error if isinstance(error, str) else ""
        if _names_the_key(text) or "authentication" in text.lower():
            return self._key_rejected(text)
        if "locked" in text.lower():
            return DownloadClientError(
                FailureKind.REJECTED,
                "SABnzbd at %s refuses to change its settings: its configuration is locked" % self._url,
            )
        return DownloadClientError(
            FailureKind.MALFORMED, "SABnzbd at %s answered with an error (%s)" % (self._url, self._quote(text))
        )

    def _refused(self, status: int, text: str) -> DownloadClientError:
        lowered = text.lower()
        if _names_the_key(text):
            return self._key_rejected(text)
        if "external internet access denied" in lowered:
            return DownloadClientError(
                FailureKind.REJECTED,
                "SABnzbd at %s refuses API calls from this address (its 'External internet access' setting)"
                % self._url,
            )
        if "hostname" in lowered:
            return DownloadClientError(
                FailureKind.REJECTED,
                "SABnzbd at %s refused the host name in the URL: add it to SABnzbd's host_whitelist, or use "
                "its IP address" % self._url,
            )
        if "locked" in lowered:
            return self._api_error(text)
        self._gate.failed("refused with %d" % status)
        return DownloadClientError(
            FailureKind.REJECTED,
            "SABnzbd at %s refused the request (%d): most likely a wrong API key (SABnzbd 4 says no more when "
            "its 'API warnings' are off), or a proxy in front of it wants a login" % (self._url, status),
        )

    def _key_rejected(self, text: str) -> DownloadClientError:
        if "required" in text.lower() or not self._api_key:
            self._gate.failed("no API key")
            return DownloadClientError(
                FailureKind.REJECTED,
                "SABnzbd at %s wants an API key: copy it from SABnzbd's Config > General" % self._url,
            )
        self._gate.failed("wrong API key")
        return DownloadClientError(
            FailureKind.REJECTED,
            "SABnzbd rejected the API key at %s: copy it from SABnzbd's Config > General" % self._url,
        )

    def _malformed(self, what: str) -> DownloadClientError:
        return DownloadClientError(
            FailureKind.MALFORMED,
            "SABnzbd at %s answered with %s, not its API's JSON; is the URL SABnzbd's address?" % (self._url, what),
        )

    def _quote(self, text: str) -> str:
        """An error text from SABnzbd, safe to print: no key, printable, short."""
        if self._api_key:
            text = text.replace(self._api_key, "***")
        text = "".join(ch if ch.isprintable() else " " for ch in text).strip()
        return repr(text[:_SHOWN_ERROR]) if text else "no reason given"


def _names_the_key(text: str) -> bool:
    lowered = text.lower()
    return "api key" in lowered or "apikey" in lowered


def _shape_of(text: str) -> str:
    if not text.strip():
        return "an empty answer"
    if text.lstrip().startswith("<"):
        return "an HTML page"
    return "%d characters of text" % len(text)


__all__ = [
    # this module's own
    "AUTH_WORDS", "MAX_ANSWER_BYTES", "SabnzbdClient",
    # re-exported: adapters/clients/sabnzbd_limit.py
    "limit_from_queue", "to_sabnzbd_value",
]
