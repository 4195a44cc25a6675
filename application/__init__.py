"""Application layer: configuration, the use case, the run loop, the CLI and the container."""
