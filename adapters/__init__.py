"""Adapters: the real Plex and qBittorrent clients, and in-memory fakes for both."""
