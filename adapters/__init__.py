"""Adapters, by concept: media servers (media/), download clients (clients/), the line meters
(line/), the status server and dashboard (status/), notifications (notify/), Home Assistant over
MQTT (smarthome/), history (history/), the machine (system/), the transport they share (transport/),
and in-memory fakes for --demo and the tests (fakes.py)."""
