"""SIGHUP: re-read the config; apply it without losing the state, or keep the old one."""
from __future__ import annotations

import logging
from dataclasses import fields
from typing import Callable, Optional

from application.config import ConfigError, load_settings
from application.runner import DaemonRunner
from application.settings import Settings
from domain.ports import UploadLimiterError

# changing any of these needs new adapters (new URL, credentials, TLS or timeouts)
CONNECTION_FIELDS = frozenset(
    f.name for f in fields(Settings) if f.name.startswith(("plex_url", "plex_token", "plex_verify", "plex_ca", "qbittorrent_"))
) | {"http_timeout_sec", "login_retry_sec"}

# the background parts are started once; changing these needs a restart
RESTART_FIELDS = frozenset({"status_listen", "status_token", "state_dir", "notify", "notify_after_failures", "plex_events"})

# the event listener keeps its own connection to Plex
EVENT_STREAM_FIELDS = frozenset({"plex_url", "plex_token", "plex_verify_tls", "plex_ca_file", "http_timeout_sec"})

ContainerFactory = Callable[[Settings], object]


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

    def _hand_over(self, service, new_enforcer, other_qbittorrent: bool) -> bool:
        """What plex-helper changed in qBittorrent must stay undoable. A new enforcer for the same
        qBittorrent in the same mode takes it over; another mode or another qBittorrent (a new URL)
        first undoes it the old way, and if that fails the reload is not applied (False)."""
        old_enforcer = service.enforcer
        if not other_qbittorrent:
            new_enforcer.adopt(old_enforcer)
            return True
        try:
            undone = old_enforcer.release(service.decider.policy.idle_limit)
        except UploadLimiterError as err:
            self._logger.error(
                "config reload not applied: limit_mode or qbittorrent_url changed, but plex-helper's throttle "
                "could not be undone first (%s); reload again once qBittorrent answers", err,
            )
            return False
        if undone:
            self._logger.info("before switching qBittorrent or its mode: %s", undone)
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
        decider = container.decider()
        new_adapters = CONNECTION_FIELDS.intersection(changed) or "limit_mode" in changed
        source, enforcer = (container.stream_source(), container.enforcer()) if new_adapters else (None, None)
        service = self._runner.service
        if new_adapters:
            other_qbittorrent = "limit_mode" in changed or "qbittorrent_url" in changed
            if not self._hand_over(service, enforcer, other_qbittorrent):
                return False
            service.replace_adapters(source, enforcer)
        service.decider = decider
        service.reconcile_interval_sec = new.reconcile_interval_sec
        service.min_count_interval_sec = new.poll_interval_sec / 2
        self._runner.interval_sec = new.poll_interval_sec
        self._runner.restore_on_exit = new.restore_on_exit
        self.settings = new
        self._logger.info("config reloaded from %s: %s changed", self.path, ", ".join(changed))
        restart_fields = RESTART_FIELDS | (EVENT_STREAM_FIELDS if new.plex_events else frozenset())
        needs_restart = sorted(restart_fields.intersection(changed))
        if needs_restart:
            self._logger.warning("%s changed: takes effect after a restart", ", ".join(needs_restart))
        return True
