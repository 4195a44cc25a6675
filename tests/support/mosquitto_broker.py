"""A real Mosquitto broker on 127.0.0.1 for the Home Assistant bridge's tests.

A throwaway config (a random port, no persistence, no anonymous clients) and a password file made
with `mosquitto_passwd -b`; the broker is our child (tests.support.daemon_process: stopped at
teardown, killed at exit after an interrupt). `restart()` keeps the port, so a client reconnects.
Also `HomeAssistantStandIn`: a paho subscriber that records what Home Assistant would see.
"""
from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Tuple

import pytest

from tests.support.daemon_process import DaemonProcess, base_env, port_open
from tests.support.ports import free_port

USER = "plexhelper"
PASSWORD = "mqtt-PASS-7c3d"


@dataclass
class MosquittoBroker:
    process: DaemonProcess
    port: int
    user: str = USER
    password: str = PASSWORD

    @property
    def url(self) -> str:
        return "mqtt://127.0.0.1:%d" % self.port

    def start(self) -> None:
        self.process.start(lambda: port_open(self.port), timeout=10.0)

    def stop(self) -> None:
        self.process.stop()

    def restart(self) -> None:
        self.stop()
        self.start()


def start_broker(root: Path) -> MosquittoBroker:
    mosquitto = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(mosquitto).exists() or not shutil.which("mosquitto_passwd"):
        pytest.skip("mosquitto is not installed (bash .ci/install-packages)")
    root.mkdir(parents=True, exist_ok=True)
    passwords = root / "passwd"
    subprocess.run(["mosquitto_passwd", "-c", "-b", str(passwords), USER, PASSWORD], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=10)
    passwords.chmod(0o600)
    port = free_port()
    conf = root / "mosquitto.conf"
    conf.write_text(
        "listener %d 127.0.0.1\nallow_anonymous false\npassword_file %s\npersistence false\n"
        "log_dest stdout\n"
        # as root, mosquitto would switch to its own user, who cannot read files under our tmp dir
        "user %s\n" % (port, passwords, pwd.getpwuid(os.getuid()).pw_name)
    )
    process = DaemonProcess("mosquitto", [mosquitto, "-c", str(conf)], base_env(root, root), root,
                            root / "mosquitto.log", stop_timeout=5.0)
    broker = MosquittoBroker(process, port)
    broker.start()
    return broker


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[MosquittoBroker]:
    broker = start_broker(tmp_path / "mosquitto")
    try:
        yield broker
    finally:
        broker.stop()


class HomeAssistantStandIn:
    """A paho subscriber to `topics` (retained messages included): the last payload per topic, and
    every message in order. `wait_for(topic, payload)` waits with a bound."""

    def __init__(self, broker: MosquittoBroker, topics: List[str]) -> None:
        import paho.mqtt.client as paho

        self._cond = threading.Condition()
        self.last: Dict[str, bytes] = {}
        self.retained: Dict[str, bool] = {}
        self.messages: List[Tuple[str, bytes]] = []
        self._client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id="ha-stand-in")
        self._client.username_pw_set(broker.user, broker.password)
        self._topics = topics
        self._client.on_connect = lambda c, u, f, rc, p: c.subscribe([(t, 1) for t in self._topics])
        self._client.on_message = self._on_message
        self._client.reconnect_delay_set(1, 2)
        self._client.connect("127.0.0.1", broker.port, keepalive=30)
        self._client.loop_start()

    def _on_message(self, client, userdata, message) -> None:
        with self._cond:
            self.last[message.topic] = message.payload
            self.retained[message.topic] = bool(message.retain)
            self.messages.append((message.topic, message.payload))
            self._cond.notify_all()

    def wait_for(self, topic: str, payload: "bytes | None" = None, timeout: float = 10.0) -> bool:
        with self._cond:
            return self._cond.wait_for(
                lambda: topic in self.last and (payload is None or self.last[topic] == payload), timeout)

    def forget(self) -> None:
        with self._cond:
            self.last.clear()
            self.retained.clear()
            self.messages.clear()

    def publish(self, topic: str, payload: str) -> None:
        self._client.publish(topic, payload, qos=1).wait_for_publish(timeout=5)

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
