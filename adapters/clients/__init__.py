"""Download clients: one package or module per client, and the enforcers that keep a client at its limit."""
