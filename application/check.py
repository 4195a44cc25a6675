"""`--check`: reach both servers once and say, one line each, what was found."""
from __future__ import annotations

import sys
from typing import Optional, TextIO

from application.reporting import describe_streams
from application.settings import Settings
from domain.policies import UploadLimit
from domain.ports import PortError


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
    return 1 if failures else 0
