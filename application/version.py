"""The version, and the build id the .pyz bootstrap fills in (a content hash; "source" otherwise)."""

__version__ = "0.1.0"
BUILD = "source"
