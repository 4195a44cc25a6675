"""Put stand-ins in the container's place of configured media servers and download clients, by name.

    use_stand_ins(container, plex=ScriptedStreamSource(...), qbittorrent=limiter, clock=ManualClock())
    use_stand_ins(container, **{"jellyfin-2": source})   # a name that is not a Python identifier

Each name goes to the media server or the download client of that name in the container's
settings; a name the config lacks, or one both lists use, fails here rather than leaving the real
adapter in place.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Optional

from application.container import Container


def use_stand_ins(container: Container, clock: Optional[Callable[[], float]] = None, **by_name: Any) -> Container:
    settings = container.settings()
    servers = {s.name for s in settings.media_servers}
    clients = {c.name for c in settings.download_clients}
    media: Dict[str, Any] = {}
    downloads: Dict[str, Any] = {}
    for name, stand_in in by_name.items():
        if name in servers and name in clients:
            raise ValueError("%r names both a media server and a download client: override the providers" % name)
        if name not in servers | clients:
            raise ValueError("%r is neither a configured media server (%s) nor a download client (%s)"
                             % (name, ", ".join(sorted(servers)), ", ".join(sorted(clients))))
        (media if name in servers else downloads)[name] = stand_in
    overrides: Dict[str, Any] = {"media_server_overrides": media, "download_client_overrides": downloads}
    if clock is not None:
        overrides["clock"] = clock
    container.override_providers(**overrides)
    return container
