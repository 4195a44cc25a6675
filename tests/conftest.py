pytest_plugins = ["tests.support.plex_server", "tests.support.qbittorrent_nox"]
