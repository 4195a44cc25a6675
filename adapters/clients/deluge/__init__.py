"""Deluge: its Web JSON-RPC and the client adapter on top."""
