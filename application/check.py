"""`--check`: reach every media server and download client once and say, one line each, what was
found; then which limits the config means, and each client's share in each direction while one
remote stream plays."""
from __future__ import annotations

import functools
import sys
from typing import TYPE_CHECKING, Callable, List, Optional, TextIO, Tuple

from application.observers.reporting import describe_streams
from application.config.settings import DownloadClientSettings, MediaServerSettings, Settings
from application.wiring.parts import labels_of
from application.wiring.sides import is_limited
from domain.policies import SpeedLimit
from domain.ports import PortError, UploadLimitControl
from domain.sessions import RemoteStreamRule
from domain.sessions import PlaybackSession
from domain.state import StreamState
from domain.units import describe_kib

if TYPE_CHECKING:
    from application.container import Container


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
    idle = ("each client's own limit (left alone; restored as found after a throttle)"
            if settings.idle_upload_kbps is None else describe_kib(settings.idle_upload_kbps))
    return "limits%s: idle %s; streaming %s" % (mode, idle, streaming)


def check_plex(source, rule: RemoteStreamRule, label: str = "Plex") -> str:
    version = source.server_version()
    sessions = source.read_sessions()
    return "%s OK: version %s at %s; %d session(s), %s" % (
        label, version, source.url, len(sessions), describe_streams(rule.remote_sessions(sessions)),
    )


def check_jellyfin(source, label: str) -> str:
    """Jellyfin or Emby: the version, then a line per session saying where it is from and why it
    counts as local or remote (neither server says; plex-helper decides from the address)."""
    info = source.server_info()
    lines = ["%s OK: %s at %s" % (label, info, source.url)]
    lines += ["  " + line for line in source.describe_sessions()]
    return "\n".join(lines)


def check_qbittorrent(limiter, url: str, label: str = "qBittorrent") -> str:
    info = limiter.describe()
    limit = SpeedLimit.from_bytes(limiter.current_upload_limit())
    return "%s OK: %s (Web API %s) at %s, %s; upload limit %s" % (
        label, info.version, info.webapi_version, url, _auth_words(info.auth), limit,
    )


def check_client(adapter, label: str) -> str:
    """Transmission, Deluge, SABnzbd, NZBGet: what describe() says, and the limit in force now."""
    if isinstance(adapter, UploadLimitControl):
        limit = "upload limit %s" % adapter.read_upload_limit()
    else:
        limit = "download limit %s" % adapter.read_download_limit()
    return "%s OK: %s; %s" % (label, adapter.describe(), limit)


def _auth_words(auth: str) -> str:
    return {"password": "logged in with the password", "api key": "authenticated with the API key"}.get(auth, auth)


def _checks(settings: Settings, container: Container) -> List[Tuple[str, Callable[[], str]]]:
    """(label, check) for every configured server and client, in the config's order. Each adapter is
    built inside its check (through the container, by name): one that cannot be built fails its line."""
    labels = labels_of(settings)
    checks: List[Tuple[str, Callable[[], str]]] = []
    for server in settings.media_servers:
        label = labels[server.name]
        checks.append((label, functools.partial(_check_media_server, container, server, label)))
    for client in settings.download_clients:
        label = labels[client.name]
        if not is_limited(client, settings):
            checks.append((label, functools.partial(_not_touched, label)))
        else:
            checks.append((label, functools.partial(_check_download_client, container, client, label)))
    if settings.line_meter is not None:
        from application.line_tracker import check_line

        checks.append(("line meter", functools.partial(check_line, settings)))
    return checks


def _check_media_server(container: Container, server: MediaServerSettings, label: str) -> str:
    source = container.media_source(server.name)
    if server.type == "plex":
        return check_plex(source, container.decider().rule, label)
    return check_jellyfin(source, label)


def _check_download_client(container: Container, client: DownloadClientSettings, label: str) -> str:
    # the adapter the shares below read too: one login per client for the whole check
    adapter = container.client_adapters().get(client.name) or container.client_adapter(client.name)
    if client.type == "qbittorrent":
        return check_qbittorrent(adapter, client.url, label)
    return check_client(adapter, label)


def _not_touched(label: str) -> str:
    return "%s: not touched (set streaming_download_kbps to limit its downloads while streaming)" % label


def run_check(settings: Settings, out: Optional[TextIO] = None, container: Optional[Container] = None) -> int:
    from application.container import Container

    out = out or sys.stdout
    container = container or Container(settings=settings)
    failures = 0
    for side, check in _checks(settings, container):
        try:
            line = check()
        except PortError as err:
            failures += 1
            line = "%s FAILED: %s" % (side, err)
        out.write(line + "\n")
    out.write(describe_limits(settings) + "\n")
    if settings.status_listen:
        out.write("status server: answers the host names %s (others: add them to status_allowed_hosts)\n"
                  % container.served_hosts())
    if not failures:
        for line in describe_shares(container):
            out.write(line + "\n")
    return 1 if failures else 0


ONE_STREAM = PlaybackSession(state="playing", local=False, location="wan", user="a friend", bandwidth_kbps=8000)


def describe_shares(container: Container) -> List[str]:
    """Each client's share in each direction while one remote stream plays, from the limits the
    clients hold now (a client the user holds below its share keeps its own): the weights and fixed
    shares can be seen before a stream."""
    service = container.service()
    for slot in service.clients:
        if slot.refresh(StreamState.IDLE, 0.0, 0.0, False).failure is not None:
            return []  # a client that cannot be read: its check line says why
    budget = service.decider.policy.limit_for(StreamState.STREAMING, (ONE_STREAM,))
    plan = service.plan(True, budget)
    lines = []
    for slot in service.clients:
        for direction in slot.enforcers:
            target = plan.target(slot.name, direction)
            if target is None:
                words = "left alone (its own limit is not known)"
            elif target.own:
                words = "%s: yours, left alone" % describe_kib(target.limit.kib_per_sec)
            else:
                words = describe_kib(target.limit.kib_per_sec)
            lines.append("while streaming: %s %s limit %s" % (slot.name, direction.value, words))
    return lines
