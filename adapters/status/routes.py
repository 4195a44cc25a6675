"""The status server's routes: which path takes which method, who may call it, and what it answers.

Nothing here touches the connection: `check_request` decides from the request line and headers
alone (so an `Expect: 100-continue` can be refused before the body is sent), and `answer` gets the
body through a callback, read only by the routes that take one. Refusals are RequestErrors.
"""
from __future__ import annotations

import base64
import binascii
import json
import time
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, Optional, Tuple
from urllib.parse import SplitResult, parse_qs

from adapters.status.request_origin import (
    LAN_OVERRIDE_REFUSAL,
    cross_site_refusal,
    from_this_machine,
    refused_host_message,
)
from adapters.status.webhook_body import OverrideRequest, RequestError, override_request, webhook_object

if TYPE_CHECKING:
    from adapters.status.server import StatusHttpServer

METRICS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
JSON_CONTENT_TYPE = "application/json"

# Plex webhook events that mean a stream may have started or stopped.
TRIGGER_EVENTS = frozenset({"media.play", "media.resume", "media.stop", "media.pause", "playback.started"})

ROUTES: Dict[str, Tuple[str, ...]] = {
    "/": ("GET", "HEAD"),
    "/api/history": ("GET", "HEAD"),
    "/api/override": ("GET", "HEAD"),
    "/health": ("GET", "HEAD"),
    "/metrics": ("GET", "HEAD"),
    "/webhook": ("POST",),
    "/override": ("POST", "DELETE"),
}

# what answers without the token when reading is guarded (status_token_guards_reading): the health
# check's minimal answer comes from /health itself
OPEN_FOR_READING = frozenset({"/health"})

# (status, body, content type, extra headers)
Answer = Tuple[int, bytes, str, Tuple[Tuple[str, str], ...]]


def json_answer(status: int, payload: Any, headers: Iterable[Tuple[str, str]] = ()) -> Answer:
    body = (json.dumps(payload, default=str) + "\n").encode("utf-8")
    return status, body, JSON_CONTENT_TYPE, tuple(headers)


def history_request(query: str) -> Tuple[float, Optional[float], int]:
    """(since, until, max_points) from `?since=&until=&max_points=`; RequestError 400 when bad."""
    values = parse_qs(query)

    def number(name: str, default: Optional[float]) -> Optional[float]:
        text = values.get(name, [None])[-1]
        if text is None or text == "":
            return default
        try:
            value = float(text)
        except ValueError:
            raise RequestError(400, "%s must be a number (epoch seconds)" % name) from None
        if value != value or value in (float("inf"), float("-inf")):
            raise RequestError(400, "%s must be a finite number" % name)
        return value

    since = number("since", time.time() - 86400)
    until = number("until", None)
    points = number("max_points", 2000)
    return float(since), until, int(min(5000, max(1, points)))  # type: ignore[arg-type]


def check_request(app: "StatusHttpServer", method: str, url: SplitResult, headers: Any, peer: str) -> None:
    """421 for a Host this server does not serve, 404 for an unknown path, 405 for a method it does not
    take; for changes: 403 from another site, 401 without the token, 403 for the override from the
    LAN without a token, 415 for an override that is not JSON."""
    host = headers.get("Host")
    if not app.served_hosts.admits(host):
        app.note_refused_host(host or "")
        raise RequestError(421, refused_host_message(host or ""))
    path = url.path
    allowed = ROUTES.get(path)
    if allowed is None:
        raise RequestError(404, "no such path: %s (try /, /health, /api/history, /metrics, /webhook, /override)" % path)
    if method not in allowed:
        raise RequestError(405, "%s does not accept %s" % (path, method), [("Allow", ", ".join(allowed))])
    if method not in ("POST", "DELETE"):
        if reading_refused(app, path, headers):
            # Basic as well as Bearer: a browser asks for Basic itself and then sends it with every
            # request of the page; Bearer is for scripts and Prometheus
            raise RequestError(401, "this needs the status token: send 'Authorization: Bearer <status_token>' "
                                    "(a browser asks for it: any user name, the token as password)",
                               [("WWW-Authenticate", 'Basic realm="plex-helper", charset="UTF-8"')])
        return
    refusal = cross_site_refusal(headers)
    if refusal is not None:
        raise RequestError(403, refusal)
    # Plex cannot send headers with its webhook: there, and only there, the token may be in the URL
    query_token = parse_qs(url.query).get("token", [None])[-1] if path == "/webhook" else None
    if not app.authorized(headers.get("Authorization"), query_token):
        how = ("add ?token=<status_token> to the webhook URL" if path == "/webhook"
               else "send the header 'Authorization: Bearer <status_token>'")
        raise RequestError(401, "missing or wrong token: " + how, [("WWW-Authenticate", 'Bearer realm="plex-helper"')])
    if path == "/override":
        refusal = override_refusal(app, headers, peer)
        if refusal is not None:
            raise RequestError(403, refusal)
        media_type = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if method == "POST" and media_type != JSON_CONTENT_TYPE:
            # a cross-site form or fetch(no-cors) can only send text/plain, a form or multipart
            raise RequestError(415, "the override takes Content-Type: application/json "
                                    "(with curl: -H 'Content-Type: application/json')")


def reads_guarded(app: "StatusHttpServer") -> bool:
    return bool(getattr(app, "guard_reading", False)) and app.token_required


def reader_authorized(app: "StatusHttpServer", headers: Any) -> bool:
    """Whether the request carries the status token, as Bearer or as the password of Basic."""
    authorization = (headers.get("Authorization") or "").strip()
    scheme, _, value = authorization.partition(" ")
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8", "surrogateescape")
        except (binascii.Error, ValueError):
            return False
        authorization = "Bearer " + decoded.partition(":")[2]
    return app.authorized(authorization, None)


def reading_refused(app: "StatusHttpServer", path: str, headers: Any) -> bool:
    return reads_guarded(app) and path not in OPEN_FOR_READING and not reader_authorized(app, headers)


def override_refusal(app: "StatusHttpServer", headers: Any, peer: str) -> Optional[str]:
    """Why this client may not change the override (no token, and not from this machine), or None."""
    if app.token_required or app.allow_lan_override or from_this_machine(peer, headers):
        return None
    return LAN_OVERRIDE_REFUSAL


def answer(app: "StatusHttpServer", method: str, url: SplitResult, headers: Any, peer: str,
           read_body: Callable[[], bytes]) -> Answer:
    """The answer to a request `check_request` let through. The backend's own exceptions pass."""
    path, backend = url.path, app.backend
    if path == "/":
        from adapters.status.dashboard import page  # only for a browser: kept out of memory otherwise

        body, page_type, headers = page()
        return 200, body, page_type, tuple(headers)
    if path == "/api/history":
        return json_answer(200, backend.history(*history_request(url.query)))
    if path == "/api/override":
        refusal = override_refusal(app, headers, peer)
        return json_answer(200, {"allowed": refusal is None, "why_not": refusal, "token": app.token_required})
    if path == "/health":
        status, payload = backend.health()
        if not isinstance(status, int) or not 100 <= status <= 599:
            raise TypeError("health() returned status %r" % (status,))
        if reads_guarded(app) and not reader_authorized(app, headers):
            # enough for a container's health check; the details need the token
            return json_answer(status, {"status": "ok" if status == 200 else "unhealthy"})
        return json_answer(status, payload)
    if path == "/metrics":
        return 200, backend.metrics_text().encode("utf-8"), METRICS_CONTENT_TYPE, ()
    if path == "/webhook":
        return json_answer(200, _webhook(app, headers.get("Content-Type", ""), read_body()))
    if method == "POST":
        wanted = override_request(read_body())
        try:
            if isinstance(wanted, OverrideRequest):
                return json_answer(200, backend.set_override(wanted.state, wanted.minutes))
            return json_answer(200, backend.set_temporary_limit(wanted.direction, wanted.kib, wanted.minutes,
                                                                wanted.label))
        except ValueError as err:
            raise RequestError(400, str(err)) from err
        except OSError as err:  # it could not be kept (state_dir): refused rather than half-kept
            raise RequestError(503, str(err)) from err
    return json_answer(200, _clear(backend, parse_qs(url.query).get("direction", [None])[-1]))


def _clear(backend: Any, direction: Optional[str]) -> Dict[str, Any]:
    """DELETE /override: the override and every temporary limit; `?direction=upload` (or download):
    that temporary limit only."""
    if direction is not None:
        if direction not in ("upload", "download"):
            raise RequestError(400, "direction must be upload or download")
        return backend.clear_temporary_limit(direction)
    cleared = backend.clear_override()
    temporary = backend.clear_temporary_limit(None)
    warnings = [w for w in (cleared.get("warning"), temporary.get("warning")) if w]
    body = dict(cleared, temporary_limits=temporary.get("temporary_limits", []))
    if warnings:
        body["warning"] = "; ".join(warnings)
    return body


def _webhook(app: "StatusHttpServer", content_type: str, body: bytes) -> Dict[str, Any]:
    """Every event a media server sends is answered 200 (a refusal makes Jellyfin's plugin and Emby
    log failures, and Emby's test button say it failed); only playback ones wake the loop."""
    from adapters.media.jellyfin.webhook import media_server_event  # Jellyfin's Webhook plugin and Emby

    payload = webhook_object(content_type, body)  # the body is read before the event is looked at
    event = payload.get("event")
    if not isinstance(event, str) or not event:
        other = media_server_event(payload)
        if other is None:
            raise RequestError(400, "the webhook payload has no 'event' (Plex), 'NotificationType' (Jellyfin's "
                                    "Webhook plugin) or 'Event' (Emby)")
        if other.playback:
            app.backend.trigger_observation(other.reason)
        app.logger.debug("%s (%s)", other.reason, "observing now" if other.playback else "ignored")
        return {"triggered": other.playback, "event": other.event}
    triggered = event in TRIGGER_EVENTS
    if triggered:
        app.backend.trigger_observation("plex webhook " + event)
    app.logger.debug("plex webhook %s (%s)", event[:64], "observing now" if triggered else "ignored")
    return {"triggered": triggered, "event": event[:64]}


__all__ = [
    "JSON_CONTENT_TYPE", "METRICS_CONTENT_TYPE", "ROUTES", "TRIGGER_EVENTS", "Answer", "answer", "check_request",
    "history_request", "json_answer", "override_refusal", "reader_authorized", "reads_guarded",
]
