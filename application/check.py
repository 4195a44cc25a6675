"""`--check`: reach both servers once and say, one line each, what was found; then which limits the
config means."""
from __future__ import annotations

import sys
from typing import Optional, TextIO

from application.reporting import describe_streams
from application.settings import Settings
from domain.policies import UploadLimit
from domain.ports import PortError
from domain.units import describe_kib


def describe_limits(settings: Settings) -> str:
    """The limits as understood, in KiB/s and Mbit/s: `limits: idle unlimited; streaming 500 KiB/s (4.1 Mbit/s)`."""
    if settings.limit_policy == "tiers":
        streaming = ", ".join(
            "%d+ stream%s %s" % (streams, "" if streams == 1 else "s", describe_kib(kib))
            for streams, kib in sorted(settings.streaming_tiers)
        )
    elif settings.limit_policy == "dynamic":
        streaming = "capacity %s minus the remote streams x %g, at least %s" % (
            describe_kib(settings.upload_capacity_kbps), settings.stream_overhead_factor, describe_kib(settings.min_upload_kbps),
        )
    else:
        streaming = describe_kib(settings.streaming_upload_kbps)
    mode = " (alternative speed mode)" if settings.limit_mode == "alternative" else ""
    return "limits%s: idle %s; streaming %s" % (mode, describe_kib(settings.idle_upload_kbps), streaming)


def check_plex(container) -> str:
    source = container.stream_source()
    rule = container.decider().rule
    version = source.server_version()
    sessions = source.read_sessions()
    return "Plex OK: version %s at %s; %d session(s), %s" % (
        version, source.url, len(sessions), describe_streams(rule.remote_sessions(sessions)),
    )


def check_qbittorrent(container) -> str:
    limiter = container.upload_limiter()
    info = limiter.describe()
    limit = UploadLimit.from_bytes(limiter.current_upload_limit())
    return "qBittorrent OK: %s (Web API %s) at %s, %s; upload limit %s" % (
        info.version, info.webapi_version, container.settings().qbittorrent_url, _auth_words(info.auth), limit,
    )


def _auth_words(auth: str) -> str:
    return {"password": "logged in with the password", "api key": "authenticated with the API key"}.get(auth, auth)


def run_check(settings: Settings, out: Optional[TextIO] = None, container=None) -> int:
    from application.container import Container

    out = out or sys.stdout
    container = container or Container(settings=settings)
    failures = 0
    for side, check in (("Plex", check_plex), ("qBittorrent", check_qbittorrent)):
        try:
            line = check(container)
        except PortError as err:
            failures += 1
            line = "%s FAILED: %s" % (side, err)
        out.write(line + "\n")
    out.write(describe_limits(settings) + "\n")
    return 1 if failures else 0
