"""What plex-helper shows Home Assistant: its entities, their MQTT discovery configs, their states,
and how a command payload from Home Assistant is read. No network here: `mqtt.py` publishes.

One device, "plex-helper", with:
- binary_sensor `remote_streaming`, sensor `remote_streams` (a count);
- sensor `budget_upload` / `budget_download` (KiB/s, 0 = unlimited) and one sensor per client and
  direction with the limit it holds (`limit_<client>`);
- select `mode`: auto / force streaming / force idle (the override, for `duration` minutes);
- number `duration` (minutes): how long a forced mode or a temporary limit lasts;
- number `temporary_limit_upload` (and `_download` when a client limits downloads), KiB/s: a
  temporary limit for `duration` minutes. Its command topic also takes JSON
  `{"kib": 300, "minutes": 30}` for automations that want both in one message.

Discovery topics follow Home Assistant's `<discovery_prefix>/<component>/<node_id>/<object_id>/config`;
configs and states are published retained, so a restarted Home Assistant sees them at once.
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple

from domain.state import StreamState

AVAILABLE = "online"
NOT_AVAILABLE = "offline"
MODE_AUTO = "auto"
MODE_STREAMING = "force streaming"
MODE_IDLE = "force idle"
MODE_OPTIONS = (MODE_AUTO, MODE_STREAMING, MODE_IDLE)
MODE_STATES = {MODE_STREAMING: StreamState.STREAMING.value, MODE_IDLE: StreamState.IDLE.value}
MAX_MINUTES = 7 * 24 * 60  # the status server's bound for an override
MAX_KIB = 10_000_000  # about 10 GB/s: above any line a home has
DEFAULT_MINUTES = 60
_NOT_ID = re.compile(r"[^a-zA-Z0-9_-]+")


def object_id(text: str) -> str:
    """`text` as a discovery object id: letters, digits, _ and - only (HA's rule for the topic)."""
    return _NOT_ID.sub("_", text).strip("_") or "x"


@dataclass(frozen=True)
class Entity:
    """One Home Assistant entity: its component, object id, name and component-specific keys."""

    component: str
    object_id: str
    name: str
    commands: bool = False  # has a command_topic
    extra: Mapping[str, Any] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Topics:
    """Where everything lives: state and commands under `prefix`, configs under `discovery_prefix`."""

    prefix: str
    discovery_prefix: str

    @property
    def node_id(self) -> str:
        return object_id(self.prefix)

    @property
    def availability(self) -> str:
        return "%s/availability" % self.prefix

    @property
    def home_assistant_status(self) -> str:
        return "%s/status" % self.discovery_prefix  # HA says "online" there when it starts

    def state(self, entity: Entity) -> str:
        return "%s/%s/state" % (self.prefix, entity.object_id)

    def command(self, entity: Entity) -> str:
        return "%s/%s/set" % (self.prefix, entity.object_id)

    def config(self, entity: Entity) -> str:
        return "%s/%s/%s/%s/config" % (self.discovery_prefix, entity.component, self.node_id, entity.object_id)


def _rate_sensor(oid: str, name: str) -> Entity:
    return Entity("sensor", oid, name, extra={"unit_of_measurement": "KiB/s", "state_class": "measurement",
                                              "icon": "mdi:speedometer"})


def _limit_number(direction: str) -> Entity:
    return Entity("number", "temporary_limit_" + direction, "Temporary %s limit" % direction, commands=True,
                  extra={"min": 0, "max": MAX_KIB, "step": 1, "mode": "box", "unit_of_measurement": "KiB/s",
                         "icon": "mdi:timer-cog-outline"})


def entities(clients: Sequence[Tuple[str, str]], temporary_limits: bool) -> Tuple[Entity, ...]:
    """Every entity for clients given as (name, direction) pairs; the temporary limit numbers only
    when this build can set one."""
    directions = sorted({direction for _, direction in clients} | {"upload"}, reverse=True)
    found = [
        Entity("binary_sensor", "remote_streaming", "Remote streaming", extra={"icon": "mdi:play-network"}),
        Entity("sensor", "remote_streams", "Remote streams",
               extra={"state_class": "measurement", "icon": "mdi:counter"}),
        *[_rate_sensor("budget_" + d, "%s budget" % d.capitalize()) for d in directions],
        *[_rate_sensor(object_id("limit_%s_%s" % (name, d)), "%s %s limit" % (name, d)) for name, d in clients],
        Entity("select", "mode", "Mode", commands=True, extra={"options": list(MODE_OPTIONS), "icon": "mdi:tune"}),
        Entity("number", "duration", "Duration", commands=True,
               extra={"min": 1, "max": MAX_MINUTES, "step": 1, "mode": "box", "unit_of_measurement": "min",
                      "icon": "mdi:timer-outline"}),
    ]
    if temporary_limits:
        found += [_limit_number(d) for d in directions]
    return tuple(found)


def discovery_config(entity: Entity, topics: Topics, version: str) -> Dict[str, Any]:
    """The retained payload Home Assistant reads from `topics.config(entity)`."""
    config: Dict[str, Any] = {
        "name": entity.name,
        "unique_id": "%s_%s" % (topics.node_id, entity.object_id),
        "object_id": "plex_helper_%s" % entity.object_id,
        "state_topic": topics.state(entity),
        "availability_topic": topics.availability,
        "payload_available": AVAILABLE,
        "payload_not_available": NOT_AVAILABLE,
        "device": {
            "identifiers": [topics.node_id],
            "name": "plex-helper",
            "manufacturer": "plex-helper",
            "model": "bandwidth throttle",
            "sw_version": version,
        },
    }
    if entity.component == "binary_sensor":
        config.update(payload_on="ON", payload_off="OFF")
    if entity.commands:
        config["command_topic"] = topics.command(entity)
    config.update(entity.extra)
    return config


# ------------------------------------------------------------------------------------------ states


def report_states(report: Any, clients: Sequence[Tuple[str, str]], download_budget_kib: Optional[int],
                  held: Mapping[str, int]) -> Dict[str, str]:
    """The state payloads one TickReport gives, by object id (a missing key: not known yet).

    `held` is each client's last known limit in KiB/s (updated here from the report's results); a
    client whose write failed keeps the value it had."""
    states: Dict[str, str] = {}
    effective = report.effective_state
    if not report.decision.observation_failed:
        count = len(report.remote_sessions)
        states["remote_streams"] = str(count)
    if effective is not None:
        states["remote_streaming"] = "ON" if effective is StreamState.STREAMING else "OFF"
    budget = report.decision.budget
    if budget is not None:
        states["budget_upload"] = str(budget.kib_per_sec)
    temporary_download = getattr(report.decision, "download_budget", None)  # a temporary limit's
    if temporary_download is not None:
        states["budget_download"] = str(temporary_download.kib_per_sec)
    elif effective is not None and download_budget_kib is not None:
        states["budget_download"] = str(download_budget_kib if effective is StreamState.STREAMING else 0)
    by_name = {c.name: c for c in report.clients}
    for name, direction in clients:
        result = by_name.get(name)
        if result is not None and result.error is None and result.target is not None:
            held[name] = result.target.kib_per_sec
        if name in held:
            states[object_id("limit_%s_%s" % (name, direction))] = str(held[name])
    override = report.override
    if override is None:
        states["mode"] = MODE_AUTO
    else:
        states["mode"] = MODE_STREAMING if override.state is StreamState.STREAMING else MODE_IDLE
    return states


# ------------------------------------------------------------------------------------------ commands


class CommandError(ValueError):
    """A command payload that cannot be used; the text says why, for the log."""


def _text(payload: bytes, limit: int = 200) -> str:
    if len(payload) > limit:
        raise CommandError("longer than %d bytes" % limit)
    try:
        return payload.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CommandError("not UTF-8 text") from None


def parse_mode(payload: bytes) -> str:
    """One of MODE_OPTIONS (case and spaces around ignored)."""
    text = " ".join(_text(payload).lower().split())
    if text not in MODE_OPTIONS:
        raise CommandError("must be one of %s" % ", ".join(MODE_OPTIONS))
    return text


def _number(value: Any, what: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise CommandError("%s must be a number" % what)
    if not low <= value <= high:
        raise CommandError("%s must be between %g and %g" % (what, low, high))
    return float(value)


def parse_number(payload: bytes, what: str, low: float, high: float) -> float:
    """A plain number as Home Assistant's number entity sends it ("300" or "300.0")."""
    text = _text(payload)
    try:
        value = float(text)
    except ValueError:
        raise CommandError("%s must be a number" % what) from None
    return _number(value, what, low, high)


def parse_temporary_limit(payload: bytes, minutes: float) -> Tuple[int, float]:
    """(KiB/s, minutes): a plain number (lasting `minutes`), or JSON {"kib": n, "minutes": m}."""
    text = _text(payload)
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except (ValueError, RecursionError):
            raise CommandError("not valid JSON") from None
        if not isinstance(data, dict) or set(data) - {"kib", "minutes"} or "kib" not in data:
            raise CommandError('must be a number or {"kib": ..., "minutes": ...}')
        kib = _number(data["kib"], "kib", 0, MAX_KIB)
        if "minutes" in data:
            minutes = _number(data["minutes"], "minutes", 1, MAX_MINUTES)
    else:
        kib = parse_number(payload, "the limit", 0, MAX_KIB)
    if kib != int(kib):
        raise CommandError("the limit must be whole KiB/s")
    return int(kib), minutes
