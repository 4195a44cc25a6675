"""The Plex side: reads /status/sessions over HTTP(S) and turns it into PlaybackSession values.

The answer goes through the shared HTTP client (deadline, size cap, an answer read to its end and
decoded completely), then `decode_bounded` (depth and value bounds before json.loads), then
`parse_sessions` (adapters/media/plex/sessions.py, separate so it can be tested without a server). The adapter raises only StreamSourceError, and its messages never
contain the token: it travels in the X-Plex-Token header only, never in a URL that logs could show.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple
from urllib.parse import urlsplit

from adapters.transport.headers import unfit_for_header
from adapters.transport.http import HttpAnswer, HttpClient, HttpTransportError
from adapters.transport.json_values import JsonBoundsError, decode_bounded
from adapters.media.plex.sessions import DEFAULT_STREAM_KBPS, SessionPayloadError, parse_sessions
from domain.ports import FailureKind, StreamSourceError
from domain.sessions import PlaybackSession

# A session list is a few KiB per stream; anything this big is not Plex answering us.
MAX_BODY_BYTES = 8 * 1024 * 1024
_NOT_SESSION_JSON = "Plex returned something that is not session JSON"


def _describe_body(body: bytes) -> str:
    """A hint for the log about what came instead of JSON (never the body itself)."""
    head = body.lstrip()[:64].lower()
    if not head:
        return "an empty body"
    if head.startswith(b"<!doctype html") or head.startswith(b"<html"):
        return "an HTML page"
    if head.startswith(b"<"):
        return "XML; is a proxy dropping the Accept header?"
    return "invalid or truncated JSON"


def plex_endpoint(base_url: str, token: str, client_identifier: str, product_version: str) -> Tuple[str, Dict[str, str]]:
    """(the cleaned base URL, the headers that identify us and carry the token) for any Plex request.

    Raises ValueError for a URL that is not http(s) or a token that cannot go in a header; the
    message never repeats the token.
    """
    parts = urlsplit(base_url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("the Plex URL must look like http://host:32400 or https://host:32400")
    host = parts.hostname if ":" not in parts.hostname else "[%s]" % parts.hostname
    netloc = host if parts.port is None else "%s:%d" % (host, parts.port)
    # Userinfo, query and fragment are dropped: they could hold secrets and Plex uses none.
    url = "%s://%s%s" % (parts.scheme, netloc, parts.path.rstrip("/"))
    token = token.strip()
    if unfit_for_header(token, token=True):
        raise ValueError("the Plex token contains characters that cannot go in an HTTP header")
    headers = {
        "Accept": "application/json",
        "X-Plex-Product": "plex-helper",
        "X-Plex-Version": product_version,
        "X-Plex-Client-Identifier": client_identifier,
    }
    if token:  # an empty token is left out: Plex may allow this address without auth
        headers["X-Plex-Token"] = token
    return url, headers


class PlexStreamSource:
    """StreamSource on a Plex Media Server. One kept-alive connection for the adapter's life."""

    def __init__(
        self,
        base_url: str,
        token: str,
        timeout_sec: float = 10.0,
        verify_tls: bool = True,
        ca_file: Optional[str] = None,
        client_identifier: str = "plex-helper",
        product_version: str = "0",
        default_stream_kbps: int = DEFAULT_STREAM_KBPS,
    ) -> None:
        self.url, self._headers = plex_endpoint(base_url, token, client_identifier, product_version)
        self._http = HttpClient(timeout_sec, verify_tls, ca_file, max_body_bytes=MAX_BODY_BYTES)
        self.default_stream_kbps = max(1, int(default_stream_kbps))

    def read_sessions(self) -> Tuple[PlaybackSession, ...]:
        payload = self._get_json("/status/sessions")
        try:
            return parse_sessions(payload, self.default_stream_kbps)
        except SessionPayloadError as exc:
            raise StreamSourceError(FailureKind.MALFORMED, "%s (%s)" % (_NOT_SESSION_JSON, exc)) from None

    def server_version(self) -> str:
        """The server's version string from /identity, for a configuration check."""
        payload = self._get_json("/identity", "identity JSON")
        container = payload.get("MediaContainer") if isinstance(payload, dict) else None
        version = container.get("version") if isinstance(container, dict) else None
        if not isinstance(version, str) or not version:
            raise StreamSourceError(FailureKind.MALFORMED, "Plex returned something that is not identity JSON")
        return version

    def close(self) -> None:
        self._http.close()

    def _get_json(self, path: str, what: str = "session JSON") -> Any:
        """The decoded body of a 200 answer to GET path; every other outcome is a StreamSourceError."""
        body = self._get(path).body
        try:
            return decode_bounded(body)
        except JsonBoundsError as exc:
            reason = str(exc)
        except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            reason = _describe_body(body)
        raise StreamSourceError(FailureKind.MALFORMED, "Plex returned something that is not %s (%s)" % (what, reason))

    def _get(self, path: str) -> HttpAnswer:
        """A complete 200 answer to GET path; every other outcome is a StreamSourceError."""
        try:
            answer = self._http.get(self.url + path, self._headers, MAX_BODY_BYTES)
        except HttpTransportError as exc:
            raise StreamSourceError(FailureKind.UNREACHABLE, "Plex not reachable at %s: %s" % (self.url, exc)) from None
        status = answer.status
        if status in (401, 403):
            raise StreamSourceError(FailureKind.REJECTED, "Plex rejected the token (%d) at %s" % (status, self.url))
        if status >= 500:
            raise StreamSourceError(FailureKind.UNREACHABLE, "Plex answered %d at %s" % (status, self.url))
        if status != 200:  # 404, a redirect: the URL does not point at a Plex server's API
            raise StreamSourceError(
                FailureKind.MALFORMED, "Plex answered %d at %s (is this the Plex server's address?)" % (status, self.url)
            )
        if answer.truncated:
            raise StreamSourceError(FailureKind.MALFORMED, "%s (a body over %d bytes)" % (_NOT_SESSION_JSON, MAX_BODY_BYTES))
        return answer
