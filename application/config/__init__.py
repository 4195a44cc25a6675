"""Configuration: the settings, their fields and lists, and where values come from."""
