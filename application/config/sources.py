"""Where config values come from: the file, and the environment over it.

Files are opened without blocking and read only when they are regular files of at most 1 MiB: a
FIFO or a device given as the config (or as a *_FILE secret) must not hang start-up or a SIGHUP
reload, where a blocked open() would be retried after every signal and so ignore SIGTERM (the
reading is adapters/system/regular_file.py's, which the state files use as well).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Mapping, Tuple

from adapters.system.regular_file import MIB, UnreadableFile, read_regular_bytes

MAX_FILE_BYTES = MIB
ENV_PREFIX = "PLEX_HELPER_"

# the older names of the secrets' variables, kept working; PLEX_HELPER_STATUS_TOKEN is both kinds
LEGACY_SECRET_ENV = (
    ("PLEX_TOKEN", "plex_token"),
    ("QBITTORRENT_PASSWORD", "qbittorrent_password"),
    ("QBITTORRENT_API_KEY", "qbittorrent_api_key"),
    ("PLEX_HELPER_STATUS_TOKEN", "status_token"),
)
SECRET_FIELDS = frozenset(name for _, name in LEGACY_SECRET_ENV)


class ConfigError(Exception):
    """The config cannot be used. `problems` holds one complete line per problem."""

    def __init__(self, problems: List[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_regular_file(path: str, limit: int = MAX_FILE_BYTES) -> str:
    """The UTF-8 text of a regular file of at most `limit` bytes. Never blocks on a FIFO or a device.

    Raises FileNotFoundError when nothing is there, UnreadableFile for anything else.
    """
    data = read_regular_bytes(path, limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnreadableFile("not UTF-8 text (byte %d)" % exc.start) from None


# How a *_file value or a *_FILE variable names systemd's credentials directory (the unit's
# LoadCredential= puts each secret there, readable by the service alone).
CREDENTIALS_PREFIXES = ("%d/", "$CREDENTIALS_DIRECTORY/", "${CREDENTIALS_DIRECTORY}/")


class CredentialsDirectoryUnset(ValueError):
    """A path names the credentials directory, but CREDENTIALS_DIRECTORY is not set; `str()` says so."""


def expand_credentials_path(path: str, environ: Mapping[str, str]) -> str:
    """`path` with a leading %d/ or $CREDENTIALS_DIRECTORY/ replaced by systemd's credentials
    directory; any other path as it is. Raises CredentialsDirectoryUnset outside such a service."""
    for prefix in CREDENTIALS_PREFIXES:
        if path.startswith(prefix):
            directory = environ.get("CREDENTIALS_DIRECTORY", "")
            if not directory:
                raise CredentialsDirectoryUnset(
                    "%s names systemd's credentials directory, but CREDENTIALS_DIRECTORY is not set (it is under "
                    "a unit with LoadCredential=; to check the config outside it, set CREDENTIALS_DIRECTORY to the "
                    "directory that holds those files, e.g. /etc/plex-helper)" % path)
            return os.path.join(directory, path[len(prefix):])
    return path


def read_secret_file(path: str, environ: Mapping[str, str]) -> str:
    """The secret held in the file `path` names (%d/ expanded), without its trailing newline.

    Raises FileNotFoundError, UnreadableFile or CredentialsDirectoryUnset.
    """
    return read_regular_file(expand_credentials_path(path, environ)).rstrip("\r\n")


def variables_for(field: str) -> Tuple[str, ...]:
    """The environment variables that may set `field`, each also with _FILE."""
    legacy = tuple(var for var, name in LEGACY_SECRET_ENV if name == field)
    modern = ENV_PREFIX + field.upper()
    return legacy + ((modern,) if modern not in legacy else ())


def _value_from_text(field: str, text: str, text_fields: frozenset) -> Any:
    """A secret is taken as it is; a text field from a JSON string or else as it is; anything else
    as JSON when it parses (numbers, true/false, lists, objects), else as text ("20 Mbit/s")."""
    if field in SECRET_FIELDS:
        return text
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return text
    if field in text_fields and not isinstance(value, str):
        return text
    return value


def apply_environment(
    raw: Dict[str, Any], environ: Mapping[str, str], fields: Iterable[str], text_fields: Iterable[str] = (),
) -> Tuple[Dict[str, Any], Dict[str, str]]:
    """The file's values with the environment's over them, and which variable set each field.

    An empty variable counts as not set. Variables that name no field are not looked at.
    """
    text_fields = frozenset(text_fields)
    merged, origins, problems = dict(raw), {}, []
    for field in fields:
        found = []  # (variable, value, whether the value names a file)
        for variable in variables_for(field):
            found += [(name, environ[name], is_file) for name, is_file in ((variable, False), (variable + "_FILE", True))
                      if environ.get(name)]
        if len(found) > 1:
            names = [name for name, _, _ in found]
            problems.append("%s are both set; use one" % " and ".join(names) if len(names) == 2
                            else "%s and %s are all set; use one" % (", ".join(names[:-1]), names[-1]))
            continue
        if not found:
            continue
        variable, text, is_file = found[0]
        if is_file:
            try:
                text = read_secret_file(text, environ)
            except CredentialsDirectoryUnset as exc:
                problems.append("%s: %s" % (variable, exc))
                continue
            except (FileNotFoundError, UnreadableFile) as exc:
                reason = exc.strerror if isinstance(exc, FileNotFoundError) else str(exc)
                problems.append("%s: cannot read %s: %s" % (variable, text, reason))
                continue
        merged[field] = _value_from_text(field, text, text_fields)
        origins[field] = variable
    if problems:
        raise ConfigError(problems)
    return merged, origins


def secret_hint(field: str) -> str:
    """What to name when `field` is missing, e.g. PLEX_TOKEN or PLEX_TOKEN_FILE."""
    variable = variables_for(field)[0]
    return "%s or %s_FILE" % (variable, variable)
