"""Failures that are expected and explained: the CLI prints them as one line, never a traceback."""


class UserFacingError(Exception):
    """`str(error)` is a complete sentence for the user, without any secret."""
