"""qBittorrent: its Web API session, the reading of its answers, and the client adapter."""
