"""Delivering one notification over HTTP, without a secret in any log line or error.

`post` sends and turns every failure into a NotificationError built from the target's secret-free
name, a status code or `describe_transport_error`, never from an exception's text (urllib3's hold
the URL). `hide_from_urllib3_logs` blanks a secret in urllib3's own DEBUG lines, which quote the
request line, where Telegram's token, a webhook's path or a query sits.
"""
from __future__ import annotations

import json
import logging
import threading
from typing import Any, Callable, Mapping, Optional, Tuple
from urllib.parse import unquote, urlsplit, urlunsplit

import urllib3
from urllib3 import exceptions as u3

from adapters.notify.queue import NotificationError, redact
from adapters.transport.http import basic_auth, describe_transport_error

MAX_TEXT = 4000  # Telegram refuses messages over 4096 characters


class _RedactSecrets(logging.Filter):
    """Blanks registered secrets in urllib3's own DEBUG lines.

    urllib3 logs every request line ("POST /bot<token>/sendMessage HTTP/1.1" 200) at DEBUG, and
    Telegram's URL holds the bot token. The daemon keeps urllib3 at WARNING, but anyone who turns
    DEBUG on for everything must still not see the token.
    """

    def __init__(self) -> None:
        super().__init__()
        self.secrets: frozenset = frozenset()  # replaced, never changed in place: no lock to read it

    def filter(self, record: logging.LogRecord) -> bool:
        secrets = tuple(self.secrets)
        if secrets:
            try:
                text = record.getMessage()
            except Exception:  # noqa: BLE001 - a broken record is logging's business, not ours
                return True
            redacted = redact(text, secrets)
            if redacted != text:
                record.msg, record.args = redacted, None
        return True


_URLLIB3_FILTER = _RedactSecrets()
for _name in ("urllib3.connectionpool", "urllib3.poolmanager", "urllib3.util.retry"):
    logging.getLogger(_name).addFilter(_URLLIB3_FILTER)


_FILTER_LOCK = threading.Lock()


def hide_from_urllib3_logs(secret: str) -> None:
    if secret:
        with _FILTER_LOCK:
            _URLLIB3_FILTER.secrets = _URLLIB3_FILTER.secrets | {secret}


# ------------------------------------------------------------------------------------------ URLs


def split_userinfo(url: str) -> Tuple[str, Optional[str]]:
    """(URL without user:password, Basic Authorization header value or None).

    urllib3 does not send a URL's user:password by itself, so it becomes a header here.
    """
    parts = urlsplit(url.strip())
    if parts.username is None and parts.password is None:
        return url.strip(), None
    netloc = parts.netloc.rpartition("@")[2]
    basic = basic_auth(unquote(parts.username or ""), unquote(parts.password or ""))
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), basic


def url_secrets(url: str) -> Tuple[str, ...]:
    """The parts of a URL that can be credentials: user, password, path (a webhook's token, an ntfy
    topic) and query."""
    try:
        parts = urlsplit(url.strip())
        found = (parts.username, parts.password, parts.path, parts.query)
    except ValueError:
        return ()
    return tuple(s for s in found if s and s != "/")


def post(
    name: str,
    pool: urllib3.PoolManager,
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    timeout_sec: float,
    explain: Optional[Callable[[urllib3.BaseHTTPResponse], str]] = None,
) -> urllib3.BaseHTTPResponse:
    """POST, and raise NotificationError (starting with `name`) on a transport error or non-2xx.

    The error is raised outside the `except`, so it chains nothing: urllib3's exceptions hold the
    URL (with a webhook's token in its path, or Telegram's bot token) in their text.
    """
    failure = None
    try:
        response = pool.request(
            "POST",
            url,
            body=body,
            headers=dict(headers),
            timeout=urllib3.Timeout(connect=timeout_sec, read=timeout_sec),
            retries=False,
            redirect=False,
        )
    except u3.LocationValueError:
        failure = "not a valid http(s) URL"
    except (u3.HTTPError, OSError) as exc:
        failure = describe_transport_error(exc)
    if failure is not None:
        raise NotificationError("%s: %s" % (name, failure))
    if not 200 <= response.status < 300:
        reason = explain(response) if explain else ""
        raise NotificationError("%s: answered %d%s" % (name, response.status, " (%s)" % reason if reason else ""))
    return response


def json_body(data: Mapping[str, Any]) -> bytes:
    # default=str: a detail that is not JSON-able (a datetime, a set) must not lose the notification
    return json.dumps(data, ensure_ascii=False, default=str).encode("utf-8")
