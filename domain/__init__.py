"""The pure core of plex-helper: session values, the remote rule, the state machine, limit policies."""
