"""Failures that are expected and explained: the CLI prints them as one line, never a traceback."""
from domain.ports import UserFacingError

__all__ = ["UserFacingError"]
