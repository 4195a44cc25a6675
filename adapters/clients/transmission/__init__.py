"""Transmission: its RPC and the client adapter on top."""
