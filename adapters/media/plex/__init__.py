"""Plex: sessions, the push channel and its webhooks."""
