"""SIGHUP: re-read the config; apply it without losing the state, or keep the old one."""
from __future__ import annotations

import logging
from dataclasses import fields
from typing import TYPE_CHECKING, Callable, Optional, Sequence

from application.config.load import ConfigError, load_settings
from application.loop.runner import DaemonRunner
from application.client_slot import ClientSlot
from application.service import ThrottleService
from application.config.settings import DownloadClientSettings, Settings
from domain.ports import DownloadClientError

if TYPE_CHECKING:
    from application.container import Container

# changing any of these needs new adapters (new URL, credentials, TLS or timeouts)
CONNECTION_FIELDS = frozenset({"media_servers", "download_clients", "http_timeout_sec", "login_retry_sec"})

# the background parts are started once; changing these needs a restart
RESTART_FIELDS = frozenset({"status_listen", "status_token", "status_allowed_hosts", "status_allow_lan_override",
                            "status_token_guards_reading", "state_dir", "notify", "notify_after_failures", "mqtt",
                            # the tracker keeps its meter and baseline: a new meter is built at the next start
                            "line_meter", "line_upload_kbps", "line_download_kbps", "line_headroom_percent"})

# a new container per reload: it builds the new parts (tests hand in one with stand-ins)
ContainerFactory = Callable[[Settings], "Container"]


def _same_client(old: DownloadClientSettings, new: DownloadClientSettings) -> bool:
    """The same client in the same mode: what one enforcer changed, the next can take over."""
    return (old.type, old.url, old.limit_mode) == (new.type, new.url, new.limit_mode)


class ConfigReloader:
    def __init__(
        self,
        path: str,
        settings: Settings,
        runner: DaemonRunner,
        container_factory: ContainerFactory,
        logger: Optional[logging.Logger] = None,
    ) -> None:
        self.path = path
        self.settings = settings
        self._runner = runner
        self._container_factory = container_factory
        self._logger = logger or logging.getLogger("plex_helper")

    def _hand_over(self, service: ThrottleService, new_slots: Sequence[ClientSlot], new: Settings) -> bool:
        """What plex-helper changed in each client must stay undoable. A client kept by name, at the same
        URL in the same mode, is taken over by its new enforcer; one that changed URL or mode, or left
        the config, is first undone the old way, and if that fails the reload is not applied (False)."""
        old_settings = {c.name: c for c in self.settings.download_clients}
        new_settings = {c.name: c for c in new.download_clients}
        idle = service.idle_shares()
        for slot in service.clients:
            kept = new_settings.get(slot.name)
            if kept is not None and slot.name in old_settings and _same_client(old_settings[slot.name], kept):
                continue
            try:
                undone = slot.release({d: idle.get((slot.name, d)) for d in slot.enforcers})
            except DownloadClientError as err:
                self._logger.error(
                    "config reload not applied: %s changed (its limit_mode or URL, or it left the config), but "
                    "plex-helper's throttle could not be undone first (%s); reload again once it answers", slot.name, err,
                )
                return False
            if undone:
                self._logger.info("before switching %s or its mode: %s", slot.name, undone)
        old_slots = {slot.name: slot for slot in service.clients}
        for slot in new_slots:
            old = old_slots.get(slot.name)
            if old is not None and slot.name in old_settings and _same_client(old_settings[slot.name], new_settings[slot.name]):
                for direction, enforcer in slot.enforcers.items():
                    if direction in old.enforcers:
                        enforcer.adopt(old.enforcers[direction])
        return True

    def __call__(self) -> bool:
        try:
            new = load_settings(self.path)
        except ConfigError as err:
            for line in err.problems:
                self._logger.error("config reload failed, keeping the running config: %s", line)
            return False
        changed = sorted(f.name for f in fields(Settings) if getattr(new, f.name) != getattr(self.settings, f.name))
        if not changed:
            self._logger.info("config reloaded from %s: nothing changed", self.path)
            return True
        # everything is built first, without side effects: a failure here leaves the running config
        container = self._container_factory(new)
        service = self._runner.service
        if CONNECTION_FIELDS.intersection(changed):
            servers, slots = container.media_servers(), container.client_slots()
            if not self._hand_over(service, slots, new):
                return False
        else:
            servers, slots = None, None
        service.reconfigure(container.decider(), new.reconcile_interval_sec, servers, slots)
        self._runner.interval_sec = new.poll_interval_sec
        self._runner.restore_on_exit = new.restore_on_exit
        old, self.settings = self.settings, new
        self._logger.info("config reloaded from %s: %s changed", self.path, ", ".join(changed))
        needs_restart = sorted(RESTART_FIELDS.intersection(changed))
        if old.media_servers != new.media_servers and any(s.events for s in (*old.media_servers, *new.media_servers)):
            needs_restart.append("the media servers' push channels (events)")
        if needs_restart:
            self._logger.warning("%s changed: takes effect after a restart", ", ".join(needs_restart))
        return True
