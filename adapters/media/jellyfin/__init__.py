"""Jellyfin and Emby: sessions, the push channel and the webhook plugins' bodies."""
