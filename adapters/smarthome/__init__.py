"""Home Assistant over MQTT: discovery configs and states (`discovery`), the paho bridge (`mqtt`).

Nothing here imports paho at import time: `MqttBridge.start` does, only when `mqtt` is configured."""
