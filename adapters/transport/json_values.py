"""Reading one value of a media server's JSON the way every session parser does."""
from __future__ import annotations


def as_text(value: object) -> str:
    """A JSON string as it is, a number as text (IDs and titles: old servers and XML-to-JSON
    converters give numbers), anything else as ""."""
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""
