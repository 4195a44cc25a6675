"""The Home Assistant bridge: plex-helper's state published over MQTT, its commands read back.

paho-mqtt runs its own network thread (`loop_start`): it connects, reconnects with a growing delay
(1 s up to a minute) when the broker goes away, and sends what `report` queued. `report`, called by
the poll loop, only compares and queues: it never waits on the broker. After every (re)connect, and
when Home Assistant announces itself on `<discovery_prefix>/status`, every discovery config and the
last states are published again (a broker without persistence forgets retained messages).

The last will makes the broker publish `offline` on the availability topic when plex-helper dies;
`stop` publishes it itself. A refused login is one ERROR naming the broker and what to check; the
retries after it are quiet until the broker accepts or another error comes.
"""
from __future__ import annotations

import hashlib
import json
import logging
import ssl
import threading
from typing import Any, Callable, Dict, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from adapters.smarthome import discovery
from adapters.smarthome.discovery import CommandError, Entity, Topics
from domain.ports import StatusBackend

log = logging.getLogger("plex_helper.mqtt")

# set_temporary_limit(direction, kib, minutes, label): the temporary-limit feature, when built
TemporaryLimitSetter = Callable[[str, int, float, str], Any]
COMMAND_LABEL = "Home Assistant"
NOT_AVAILABLE = "temporary limits are not available in this build"
# CONNACK codes (MQTT 3.1.1: 4, 5; MQTT 5: 134, 135) that mean: the credentials were refused
_REFUSED_LOGIN = {4, 5, 134, 135}


def parse_broker_url(url: str) -> Tuple[str, int, bool]:
    """(host, port, tls) of `mqtt://host[:1883]` or `mqtts://host[:8883]`; ValueError names the problem."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise ValueError("must be mqtt://host:port or mqtts://host:port (invalid port or host)") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError("must be mqtt://host:port or mqtts://host:port")
    if parts.path.strip("/") or parts.query or parts.username or parts.password:
        raise ValueError("must be only mqtt(s)://host:port (username and password are fields of their own)")
    tls = parts.scheme == "mqtts"
    return parts.hostname, port or (8883 if tls else 1883), tls


class MqttBridge:
    """A tick observer (`report`) and a companion (`start`/`stop`) for Home Assistant over MQTT."""

    def __init__(
        self,
        url: str,
        overrides: StatusBackend,
        clients: Sequence[Tuple[str, str]] = (),
        username: str = "",
        password: str = "",
        topic_prefix: str = "plex-helper",
        discovery_prefix: str = "homeassistant",
        set_temporary_limit: Optional[TemporaryLimitSetter] = None,
        download_budget_kib: Optional[int] = None,
        version: str = "",
        logger: Optional[logging.Logger] = None,
        reconnect_delay: Tuple[float, float] = (1.0, 60.0),
    ) -> None:
        self._host, self._port, self._tls = parse_broker_url(url)
        self._where = "mqtt%s://%s:%d" % ("s" if self._tls else "", self._host, self._port)
        self._overrides = overrides
        self._clients = tuple(clients)
        self._username, self._password = username, password
        self._topics = Topics(topic_prefix, discovery_prefix)
        self._set_limit = set_temporary_limit
        self._download_budget = download_budget_kib
        self._version = version
        self._log = logger or log
        self._delay = reconnect_delay
        self._entities = discovery.entities(self._clients, temporary_limits=set_temporary_limit is not None)
        self._commands: Dict[str, Entity] = {self._topics.command(e): e for e in self._entities if e.commands}
        self._lock = threading.Lock()
        self._states: Dict[str, str] = {"duration": str(discovery.DEFAULT_MINUTES)}
        self._held: Dict[str, int] = {}
        self._minutes = float(discovery.DEFAULT_MINUTES)
        self._connected = False
        self._last_problem: Optional[str] = None
        self._client: Any = None
        self.connections = 0  # successful connections so far (tests wait on it)
        self.refused = 0  # connection attempts the broker refused
        self._subscription: Optional[int] = None
        self.connected_event = threading.Event()  # connected, and the command topics subscribed

    @property
    def topics(self) -> Topics:
        return self._topics

    def describe(self) -> str:
        return "MQTT broker %s" % self._where

    # ------------------------------------------------------------------ companion

    def start(self) -> None:
        import paho.mqtt.client as paho  # only when `mqtt` is configured: it costs memory

        client_id = "plex-helper-" + hashlib.sha256(self._topics.prefix.encode()).hexdigest()[:8]
        client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv311)
        if self._username or self._password:
            client.username_pw_set(self._username, self._password)
        if self._tls:
            client.tls_set_context(ssl.create_default_context())
        client.will_set(self._topics.availability, discovery.NOT_AVAILABLE, qos=1, retain=True)
        client.reconnect_delay_set(min_delay=max(1, int(self._delay[0])), max_delay=max(1, int(self._delay[1])))
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        client.enable_logger(logging.getLogger("plex_helper.mqtt.paho"))
        logging.getLogger("plex_helper.mqtt.paho").setLevel(logging.WARNING)
        self._client = client
        if self._set_limit is None:
            self._log.info("Home Assistant: %s; the temporary limit entities are left out", NOT_AVAILABLE)
        client.connect_async(self._host, self._port, keepalive=30)
        client.loop_start()

    def stop(self) -> None:
        """Say `offline` (retained), disconnect, end paho's thread. Never raises, waits at most ~2 s."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            if self._connected:
                info = client.publish(self._topics.availability, discovery.NOT_AVAILABLE, qos=1, retain=True)
                info.wait_for_publish(timeout=1.0)
            client.disconnect()
            client.loop_stop()
        except Exception as exc:  # noqa: BLE001 - stopping must not fail the daemon's exit
            self._log.debug("MQTT stop: %s", type(exc).__name__)

    # ------------------------------------------------------------------ tick observer

    def report(self, report: Any) -> None:
        """Queue the states that changed; returns at once (paho's thread sends them)."""
        with self._lock:
            states = discovery.report_states(report, self._clients, self._download_budget, self._held)
            changed = {k: v for k, v in states.items() if self._states.get(k) != v}
            self._states.update(states)
            connected = self._connected
        if connected and changed:
            self._publish_states(changed)

    # ------------------------------------------------------------------ paho callbacks (its thread)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        if reason_code.is_failure:
            self.refused += 1
            code = getattr(reason_code, "value", None)
            if code in _REFUSED_LOGIN:
                self._problem("the MQTT broker %s refused the login (check mqtt.username and mqtt.password); "
                              "retrying quietly" % self._where)
            else:
                self._problem("the MQTT broker %s refused the connection: %s" % (self._where, reason_code))
            return
        with self._lock:
            self._connected = True
            self.connections += 1
            states = dict(self._states)
        self._last_problem = None
        self._log.info("connected to the MQTT broker %s: publishing to Home Assistant", self._where)
        topics = [(t, 1) for t in self._commands] + [(self._topics.home_assistant_status, 1)]
        _, self._subscription = client.subscribe(topics)
        self._publish_all(states)

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, reason_codes: Any, properties: Any) -> None:
        if mid == self._subscription:  # the broker took the subscription: commands reach us from now on
            self.connected_event.set()

    def _on_connect_fail(self, client: Any, userdata: Any) -> None:
        self._problem("cannot reach the MQTT broker %s; retrying" % self._where, level=logging.WARNING)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason_code: Any, properties: Any) -> None:
        with self._lock:
            was, self._connected = self._connected, False
        self.connected_event.clear()
        if was and self._client is not None:
            self._problem("lost the MQTT broker %s; reconnecting" % self._where, level=logging.WARNING)

    def _problem(self, text: str, level: int = logging.ERROR) -> None:
        """Logged once; the same problem again (every retry) is DEBUG until something changes."""
        if text == self._last_problem:
            self._log.debug("%s", text)
            return
        self._last_problem = text
        self._log.log(level, "%s", text)

    def _on_message(self, client: Any, userdata: Any, message: Any) -> None:
        try:
            if message.topic == self._topics.home_assistant_status:
                if message.payload.strip() == b"online":
                    with self._lock:
                        states = dict(self._states)
                    self._publish_all(states)
                return
            entity = self._commands.get(message.topic)
            if entity is not None:
                self._command(entity, message.payload)
        except CommandError as err:
            self._log.warning("Home Assistant command on %s ignored: %s", message.topic, err)
        except Exception as exc:  # noqa: BLE001 - paho's thread must outlive any command
            self._log.warning("Home Assistant command on %s failed: %s", message.topic,
                              exc if isinstance(exc, (ValueError, OSError)) else type(exc).__name__)

    # ------------------------------------------------------------------ commands

    def _command(self, entity: Entity, payload: bytes) -> None:
        if entity.object_id == "mode":
            mode = discovery.parse_mode(payload)
            if mode == discovery.MODE_AUTO:
                self._overrides.clear_override()
            else:
                self._overrides.set_override(discovery.MODE_STATES[mode], self._minutes)
            self._log.info("Home Assistant: mode %s", mode)
            self._set_state(entity.object_id, mode)
        elif entity.object_id == "duration":
            minutes = discovery.parse_number(payload, "the duration", 1, discovery.MAX_MINUTES)
            self._minutes = minutes
            self._set_state(entity.object_id, "%g" % minutes)
        elif entity.object_id.startswith("temporary_limit_"):
            direction = entity.object_id[len("temporary_limit_"):]
            if self._set_limit is None:
                self._log.warning("Home Assistant asked for a temporary limit: %s", NOT_AVAILABLE)
                return
            kib, minutes = discovery.parse_temporary_limit(payload, self._minutes)
            self._set_limit(direction, kib, minutes, COMMAND_LABEL)
            self._log.info("Home Assistant: temporary %s limit %d KiB/s for %g min", direction, kib, minutes)
            self._set_state(entity.object_id, str(kib))

    def _set_state(self, object_id: str, value: str) -> None:
        with self._lock:
            self._states[object_id] = value
        self._publish_states({object_id: value})

    # ------------------------------------------------------------------ publishing

    def _publish_all(self, states: Dict[str, str]) -> None:
        client = self._client
        if client is None:
            return
        client.publish(self._topics.availability, discovery.AVAILABLE, qos=1, retain=True)
        for entity in self._entities:
            config = discovery.discovery_config(entity, self._topics, self._version)
            client.publish(self._topics.config(entity), json.dumps(config), qos=1, retain=True)
        self._publish_states(states)

    def _publish_states(self, states: Dict[str, str]) -> None:
        client = self._client
        if client is None:
            return
        by_id = {e.object_id: e for e in self._entities}
        for object_id, value in states.items():
            entity = by_id.get(object_id)
            if entity is not None:
                client.publish(self._topics.state(entity), value, qos=0, retain=True)
